"""Benchmark of the living network (``sim.social.dynamics``): feeds, friend suggestions, graph merges, learning.

Every figure sits beside plain numpy baselines measured in the same run, so ratios hold on a shared
machine where absolute times drift. See :func:`bench_social` for what is measured and the output keys.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import numpy as np
import psutil

from sim.bench.measure import BenchWorld, PeakRSS, maxrss_mb, mb
from sim.core.graph import GraphDelta, csr_positions
from sim.core.topics import TOPICS
from sim.core.world import Status, world_rng
from sim.engine.simulation import Simulation
from sim.llm.service import LLMService
from sim.social.dynamics import FeedContext, FriendContext, SocialTick
from sim.store.create import synthetic_world

CONTENT_RECOMMENDERS: tuple[str, ...] = ("chronological", "hot", "interest", "collaborative", "social-proof", "random")
FRIEND_RECOMMENDERS: tuple[str, ...] = ("common-neighbours", "adamic-adar", "interest-compatibility", "random")

#: The issue's targets at 1,000,000 agents, 10 % online, K = 10.
TARGETS: dict[str, float] = {
    "feed_ms": 500.0,  # building all feeds of one tick
    "friends_ms": 1000.0,  # friend recommendation (and the follows/unfollows it leads to) for one tick
    "world_budget_mb": 800.0,  # the foundation's budget for the world
    "overhead_mb": 300.0,  # what the social layer may add on top
    "peak_rss_mb": 1100.0,  # world budget plus overhead
}

# Propagation sessions behind the feeds (see the "notes" of the output).
HISTORY_P = 0.1  # finished messages: supercritical on these graphs, they reach a large share
LIVE_P = 0.04  # live messages: growing slowly, still running when the feeds are measured
WARM_TICKS = 8  # live messages are injected over this many ticks (ages 1..8 ticks)
MAX_HISTORY_TICKS = 60
TOPIC_COUNT = 64


def _ms(seconds: float) -> float:
    return round(1000.0 * seconds, 2)


def _stats(samples: list[float]) -> dict[str, Any]:
    return {
        "ms_median": _ms(float(np.median(samples))) if samples else None,
        "ms_max": _ms(float(np.max(samples))) if samples else None,
        "ms_per_tick": [_ms(s) for s in samples],
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return round(a / max(b, 1e-6), 1)


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _session_bytes(sessions: Sequence[Any]) -> int:
    total = 0
    for s in sessions:
        for a in (s.state, s.adopted_at, s.adopted_from, s.exposed, s.feed_seen, s.frontier, s.transmitting):
            total += a.nbytes
    return total


def _forget_feeds(sessions: Sequence[Any]) -> None:
    """Clear the sessions' record of who was already shown them in a feed."""
    for s in sessions:
        if s.feed_seen.size:
            s.feed_seen[:] = False
        s.feed_exposed = 0


def _online_masks(world: Any, share: float, ticks: int, seed: int) -> list[np.ndarray]:
    """Exactly ``round(share * n)`` active agents online per tick (at most all active ones), drawn
    uniformly with a generator seeded from (seed, tick): independent of the activity profiles."""

    pool = np.flatnonzero(world.columns["status"] == Status.ACTIVE)
    size = min(round(share * world.n), int(pool.size))
    masks = []
    for t in range(ticks):
        rng = np.random.default_rng((seed, 0x5041, t))
        mask = np.zeros(world.n, dtype=bool)
        if size:
            mask[rng.choice(pool, size=size, replace=False)] = True
        masks.append(mask)
    return masks


def _setup_sessions(
    sim: Any, messages: int, history: int, seed: int, progress: Callable[[str, float], None] | None
) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """Run ``history`` messages to completion, then inject ``messages`` live ones over
    ``WARM_TICKS`` ticks; all with the social layer off (recommender "none")."""

    world = sim.world
    n = world.n
    rng = np.random.default_rng((seed, 0x5E55))
    ids = world.columns["ids"]
    live_seeds = max(20, round(n * 2e-4))  # 200 at 1M agents
    hist_seeds = max(30, round(n * 1e-3))  # 1000 at 1M agents

    def inject(label: str, p: float, k: int, s: int) -> Any:
        topics = [TOPICS[t] for t in rng.choice(TOPIC_COUNT, size=int(rng.integers(1, 4)), replace=False)]
        author = int(ids[int(rng.integers(0, n))])
        return sim.inject(
            label, topics=topics, author=author, seeds=f"random:{min(k, n)}", model="ic", params={"p": p}, seed=s
        )

    t0 = time.perf_counter()
    hist = [inject(f"history {i}", HISTORY_P, hist_seeds, 1000 + i) for i in range(history)]
    ticks = 0
    while any(not s.done for s in hist) and ticks < MAX_HISTORY_TICKS:
        asyncio.run(sim.step())
        ticks += 1
        if progress:
            progress("history messages", min(1.0, ticks / 20))
    for s in hist:  # a history message still running after the cap is cancelled: it counts as finished
        if not s.done:
            sim.cancel(s.id)
    live: list[Any] = []
    for t in range(WARM_TICKS):
        while len(live) < messages and len(live) * WARM_TICKS < messages * (t + 1):
            live.append(inject(f"live {len(live)}", LIVE_P, live_seeds, len(live)))
        asyncio.run(sim.step())
        if progress:
            progress("live messages", (t + 1) / WARM_TICKS)
    info = {
        "history_ticks": ticks,
        "history_reached": [int(s.reached) for s in hist],
        "history_status": sorted({s.status for s in hist}),
        "live_reached": [int(s.reached) for s in live],
        "live_age_ticks": [int(world.tick - s.created_tick) for s in live],
        "live_status": sorted({s.status for s in live}),
        "live_seeds": live_seeds,
        "history_seeds": hist_seeds,
        "history_p": HISTORY_P,
        "live_p": LIVE_P,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return hist, live, info


@dataclass(frozen=True)
class SocialBench(BenchWorld):
    """What :func:`bench_social` measures on: the world (``agents``, ``community`` graph of ``avg_degree``,
    ``seed``), ``online`` (share of agents online per tick), ``k`` (feed size and suggestions), ``ticks`` timed,
    ``messages`` live and ``history`` finished, and the ``content`` and ``friends`` recommenders timed."""

    seed: int = 7
    online: float = 0.1
    k: int = 10
    ticks: int = 5
    messages: int = 10
    content: Sequence[str] = CONTENT_RECOMMENDERS
    friends: Sequence[str] = FRIEND_RECOMMENDERS
    history: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "content", tuple(self.content))
        object.__setattr__(self, "friends", tuple(self.friends))


class SocialOptions(TypedDict, total=False):
    """The keywords :func:`bench_social` takes beside ``agents`` and ``progress``: :class:`SocialBench`'s."""

    avg_degree: float
    online: float
    k: int
    ticks: int
    messages: int
    seed: int
    content: Sequence[str]
    friends: Sequence[str]
    history: int


def bench_social(
    agents: int = 1_000_000, progress: Callable[[str, float], None] | None = None, **options: Unpack[SocialOptions]
) -> dict[str, Any]:
    """Time the social layer's feeds, friend suggestions, graph merge and learning on one world.

    The world (``community`` graph) is built once. ``history`` messages run to completion first (the
    co-adoption history the ``collaborative`` recommender needs), then ``messages`` live messages are
    injected over a few ticks, all with the social layer off; every message has 1-3 topics and an
    author. Then, for ``ticks`` ticks, exactly ``online`` of the agents are online (a seeded uniform
    draw, the same masks for every recommender) and the layer's methods are called directly:
    ``sim.social.feeds(...)`` per content recommender and ``sim.social.friends(...)`` per friend
    recommender, with ``feed_size = suggestions = k``. Sessions are not advanced while feeds and friends
    are timed, so every recommender sees the same messages. Afterwards one content recommender's feeds
    drive ``ticks`` propagation rounds whose learning step (``sim.social.dynamics.learn``) is timed, and the
    follows and unfollows of one ``friends()`` tick are merged into the graph (``world.merge_delta()``).

    Returns a JSON-able dict with these keys (times in ms, memory in MiB):

    - ``benchmark`` ("social"), ``agents``, ``edges``, ``avg_degree``, ``online`` (share),
      ``online_agents`` (per tick), ``k``, ``ticks``, ``messages`` (live), ``history`` (finished),
      ``seed``, ``cpu_count``, ``generate_s``, ``setup_s``, ``total_s``.
    - ``sessions``: how the messages were made and how far they got (reached per message, ages).
    - ``content``: per recommender: ``ms_median``, ``ms_max``, ``ms_per_tick`` (whole ``feeds()``
      call), ``score_ms`` (the recommender's ``score()`` alone on the same readers, first tick; the rest
      of ``feeds()`` is the core: removing adopted and own messages, top-K, exposure records),
      ``items_per_tick_median``, ``items_per_reader``, ``readers_served_share`` (readers given at least
      one item, first tick), ``new_exposures_first_tick``, ``peak_rss_mb`` (during its timed ticks),
      ``ratio_to_gather_baseline``,
      ``ratio_to_topk_baseline``, ``target_ms``, ``within_target`` (median), ``all_ticks_within_target``.
    - ``friends``: per recommender: ``ms_median``, ``ms_max``, ``ms_per_tick`` (whole ``friends()``
      call: suggestions, filtering, top-K, acceptance, unfollows), ``suggest_ms`` (the recommender's
      ``suggest()`` alone, first tick), ``candidate_pairs`` (its answer's length, first tick),
      ``follows_per_tick_median``, ``unfollows_per_tick_median``, ``peak_rss_mb`` (during its timed
      ticks), ``ratio_to_gather_baseline``,
      ``target_ms``, ``within_target`` (median), ``all_ticks_within_target``.
    - ``merge``: ``ms`` of one ``world.merge_delta()`` holding one tick's follows and unfollows (of
      ``recommender``), ``follows``, ``unfollows``, ``changed_edges``, ``edges_after``, ``merge_every``,
      ``amortised_ms_per_tick`` (ms / merge_every), ``baseline_sort_ms`` (``np.sort`` of the graph's
      int64 edge keys, the least a CSR rebuild does), ``ratio_to_sort_baseline``.
    - ``learn``: ``ms_median``, ``ms_max``, ``ms_per_tick`` of ``social.learn`` after a propagation
      round with feeds from ``recommender``; ``round_ms_median`` (the rounds themselves),
      ``attempts_per_tick_median``, ``feed_adoptions``.
    - ``baseline``: ``gather_followees_ms_median`` (``csr_positions`` over ``in_indptr`` for every
      online agent, then the followee gather: the least an in-network feed must do),
      ``gather_followees_entries``, ``topk_argsort_ms_median`` (``np.argsort`` top-K over a random
      online x messages score matrix), ``samples``.
    - ``memory``: ``world_array_mb``, ``sessions_array_mb``, ``rss_after_world_mb``,
      ``rss_after_setup_mb`` (world plus messages), ``phase_peak_rss_mb`` (generate, setup, content,
      friends, learn, merge), ``overhead_over_world_mb`` (peak after the world was built minus RSS after
      it was built: messages plus the social layer), ``overhead_over_setup_mb`` (the same minus RSS
      once the messages exist: the social layer alone),
      ``peak_rss_sampled_mb`` (the highest phase peak), ``maxrss_mb`` (the kernel's high-water mark,
      ``ru_maxrss``: exact, but over the whole life of the process, so run it in a fresh one).
    - ``peak_rss_mb``: the higher of ``peak_rss_sampled_mb`` and ``maxrss_mb``.
    - ``targets``, ``within_targets`` (each target: bool), ``all_within_targets``, ``notes``.
    """

    t_start = time.perf_counter()
    bench = SocialBench(agents, **options)
    r: dict[str, Any] = {
        "benchmark": "social",
        "agents": bench.agents,
        "avg_degree": bench.avg_degree,
        "online": bench.online,
        "k": bench.k,
        "ticks": bench.ticks,
        "messages": bench.messages,
        "history": bench.history,
        "seed": bench.seed,
        "cpu_count": os.cpu_count(),
    }
    run = _SocialRun(bench, r, progress)
    run.build()
    run.time_recommenders()
    run.time_learning()
    run.time_merge()
    run.memory_and_targets()
    r["notes"] = _notes(bench, r["sessions"])
    r["total_s"] = round(time.perf_counter() - t_start, 1)
    return r


class _Baselines:
    """The plain numpy baselines, measured once per timed tick on the same online masks: the followee gather
    an in-network feed must do at least, and an ``argsort`` top-K over a readers x messages score matrix."""

    def __init__(self, graph: Any, k: int, messages: int, seed: int) -> None:
        self.graph, self.k, self.messages = graph, k, messages
        self.gather: list[float] = []
        self.topk: list[float] = []
        self.entries = 0
        self.rng = np.random.default_rng((seed, 0xBA5E))

    def measure(self, mask: np.ndarray) -> None:
        g = self.graph
        readers = np.flatnonzero(mask).astype(np.int32)
        t = time.perf_counter()
        pos, _counts = csr_positions(g.in_indptr, readers)
        followees = g.in_indices[pos]
        self.gather.append(time.perf_counter() - t)
        self.entries = int(followees.size)
        del pos, followees
        scores = self.rng.random((readers.size, max(self.messages, 1)))
        t = time.perf_counter()
        np.argsort(-scores, axis=1)[:, : self.k]
        self.topk.append(time.perf_counter() - t)

    def medians(self) -> tuple[float | None, float | None]:
        """The medians of the gather and of the top-K (seconds; None before any tick)."""
        gather = float(np.median(self.gather)) if self.gather else None
        topk = float(np.median(self.topk)) if self.topk else None
        return gather, topk


class _SocialRun:
    """One run of :func:`bench_social`: its world, messages and online masks, and the figures of each phase
    in ``r`` (with the peak RSS of each phase in ``phase_peak`` and the memory figures in ``mem``)."""

    def __init__(self, bench: SocialBench, r: dict[str, Any], progress: Callable[[str, float], None] | None) -> None:
        self.bench, self.r, self.progress = bench, r, progress
        self.mem: dict[str, Any] = {}
        self.phase_peak: dict[str, float] = {}
        self.kept_delta: tuple[str, GraphDelta, int, int] | None = None

    def note(self, label: str, frac: float) -> None:
        if self.progress:
            self.progress(label, frac)

    def build(self) -> None:
        """The world, then the messages (see :func:`_setup_sessions`), then the online masks."""
        b, r, mem = self.bench, self.r, self.mem
        with PeakRSS() as pk:
            t0 = time.perf_counter()
            world = synthetic_world(
                "bench-social",
                b.agents,
                graph="community",
                avg_degree=b.avg_degree,
                seed=b.seed,
                progress=self.progress,
            )
            r["generate_s"] = round(time.perf_counter() - t0, 2)
        gc.collect()
        self.phase_peak["generate"] = mb(pk.peak)
        r["edges"] = world.num_edges
        mem["world_array_mb"] = mb(world.nbytes())
        mem["rss_after_world_mb"] = mb(_rss())
        with PeakRSS() as pk:
            t0 = time.perf_counter()
            sim = Simulation(world, max_running=max(16, b.messages + b.history), llm=LLMService.offline(world))
            _hist, live_all, info = _setup_sessions(sim, b.messages, b.history, b.seed, self.note)
            r["setup_s"] = round(time.perf_counter() - t0, 2)
        self.phase_peak["setup"] = mb(pk.peak)
        r["sessions"] = info
        # All live messages are handed to feeds() even if one finished early (small worlds): M stays `messages`.
        self.live = list(live_all)
        info["live_running"] = sum(1 for s in self.live if s.status == "running")
        mem["sessions_array_mb"] = mb(_session_bytes(world.sessions))
        gc.collect()
        mem["rss_after_setup_mb"] = mb(_rss())
        self.world, self.sim, self.social = world, sim, sim.social
        self.base_tick = world.tick
        self.masks = _online_masks(world, b.online, b.ticks, b.seed)
        r["online_agents"] = int(self.masks[0].sum()) if self.masks else 0
        self.baselines = _Baselines(world.graph, b.k, len(self.live), b.seed)

    def time_recommenders(self) -> None:
        """Every content recommender's feeds and every friend recommender's suggestions, beside the baselines."""
        res_content = self._each("content", self.bench.content, self._content)
        res_friends = self._each("friends", self.bench.friends, self._friends)
        gather_med, topk_med = self.baselines.medians()
        for v in res_content.values():
            med = v["ms_median"] / 1000.0 if v["ms_median"] is not None else None
            v["ratio_to_gather_baseline"] = _ratio(med, gather_med)
            v["ratio_to_topk_baseline"] = _ratio(med, topk_med)
        for v in res_friends.values():
            med = v["ms_median"] / 1000.0 if v["ms_median"] is not None else None
            v["ratio_to_gather_baseline"] = _ratio(med, gather_med)
        self.r["content"] = res_content
        self.r["friends"] = res_friends
        self.r["baseline"] = {
            "gather_followees_ms_median": _ms(gather_med) if gather_med is not None else None,
            "gather_followees_entries": self.baselines.entries,
            "topk_argsort_ms_median": _ms(topk_med) if topk_med is not None else None,
            "samples": len(self.baselines.gather),
        }

    def _each(self, phase: str, names: Sequence[str], measure: Callable[[int, str], dict[str, Any]]) -> dict[str, Any]:
        """``measure(i, name)`` of every recommender of ``names``, by name, as one phase (its peak RSS kept)."""
        out: dict[str, Any] = {}
        with PeakRSS() as pk:
            for i, name in enumerate(names):
                out[name] = measure(i, name)
                gc.collect()
        self.phase_peak[phase] = mb(pk.peak)
        return out

    def _content(self, i: int, name: str) -> dict[str, Any]:
        """Content recommender ``name``'s feeds over the timed ticks, and its ``score()`` alone."""
        b, social, live, masks = self.bench, self.social, self.live, self.masks
        social.configure(recommender=name, friend_recommender="none", feed_size=b.k, suggestions=b.k)
        samples, items, new_exp = [], [], []
        served = None
        _forget_feeds(live)  # new exposures counted from scratch for each recommender
        with PeakRSS() as rpk:
            for t, mask in enumerate(masks):
                self.baselines.measure(mask)
                out = SocialTick()
                t0 = time.perf_counter()
                feeds = social.feeds(self.base_tick + t, mask, live, out)
                samples.append(time.perf_counter() - t0)
                items.append(out.feed_items)
                new_exp.append(out.feed_new_exposures)
                if t == 0:
                    got = [a for a, _ in feeds.values()]
                    served = int(np.unique(np.concatenate(got)).size) if got else 0
                del feeds
                social.take_exposures()
                self.note(f"feeds: {name}", (i + (t + 1) / max(b.ticks, 1)) / max(len(b.content), 1))
        st = _stats(samples)
        readers_n = self.r["online_agents"]
        return {
            **st,
            "score_ms": self._score_ms(name),
            "peak_rss_mb": mb(rpk.peak),
            "items_per_tick_median": int(np.median(items)) if items else 0,
            "items_per_reader": round(float(np.median(items)) / max(readers_n, 1), 2) if items else 0.0,
            "readers_served_share": round((served or 0) / max(readers_n, 1), 3),
            "new_exposures_first_tick": int(new_exp[0]) if new_exp else 0,
            "target_ms": TARGETS["feed_ms"],
            "within_target": st["ms_median"] is not None and st["ms_median"] <= TARGETS["feed_ms"],
            "all_ticks_within_target": st["ms_max"] is not None and st["ms_max"] <= TARGETS["feed_ms"],
        }

    def _score_ms(self, name: str) -> float | None:
        """The recommender's score() alone on the first tick's readers (one block, as the core does while
        readers * messages <= 4,000,000)."""
        rec = self.social.content_recommender(name)
        if not (self.masks and rec is not None and self.live):
            return None
        readers = np.flatnonzero(self.masks[0]).astype(np.int32)
        tick = self.base_tick
        ctx = FeedContext(self.world, readers, self.live, tick, world_rng(self.bench.seed, 6, tick, 99), rec.p)
        t0 = time.perf_counter()
        rec.score(ctx)
        return _ms(time.perf_counter() - t0)

    def _friends(self, i: int, name: str) -> dict[str, Any]:
        """Friend recommender ``name``'s ticks (suggestions, acceptance, unfollows), and its ``suggest()``
        alone; the first recommender's last tick of follows and unfollows is kept for the merge."""
        b, social, world, masks = self.bench, self.social, self.world, self.masks
        social.configure(recommender="none", friend_recommender=name, feed_size=b.k, suggestions=b.k)
        samples, follows, unfollows = [], [], []
        with PeakRSS() as rpk:
            for t, mask in enumerate(masks):
                self.baselines.measure(mask)
                world.delta = GraphDelta(world.n)  # one tick's follows and unfollows at a time
                out = SocialTick()
                t0 = time.perf_counter()
                social.friends(self.base_tick + t, mask, out)
                samples.append(time.perf_counter() - t0)
                follows.append(out.follows)
                unfollows.append(out.unfollows)
                self.note(f"friends: {name}", (i + (t + 1) / max(b.ticks, 1)) / max(len(b.friends), 1))
        if self.kept_delta is None and masks:
            self.kept_delta = (name, world.delta, follows[-1], unfollows[-1])
        world.delta = GraphDelta(world.n)
        suggest_ms, pairs = self._suggest()
        st = _stats(samples)
        return {
            **st,
            "suggest_ms": suggest_ms,
            "candidate_pairs": pairs,
            "peak_rss_mb": mb(rpk.peak),
            "follows_per_tick_median": int(np.median(follows)) if follows else 0,
            "unfollows_per_tick_median": int(np.median(unfollows)) if unfollows else 0,
            "target_ms": TARGETS["friends_ms"],
            "within_target": st["ms_median"] is not None and st["ms_median"] <= TARGETS["friends_ms"],
            "all_ticks_within_target": st["ms_max"] is not None and st["ms_max"] <= TARGETS["friends_ms"],
        }

    def _suggest(self) -> tuple[float | None, int | None]:
        """The friend recommender's ``suggest()`` alone on the first tick's agents: ms and candidate pairs."""
        friend_rec = self.social.friend_recommender()
        if not self.masks or friend_rec is None:
            return None, None
        agents = np.flatnonzero(self.masks[0]).astype(np.int32)
        tick, k = self.base_tick, self.bench.k
        fctx = FriendContext(self.world, agents, k, tick, world_rng(self.bench.seed, 6, tick, 98), friend_rec.p)
        t0 = time.perf_counter()
        answer = friend_rec.suggest(fctx)
        suggest_ms = _ms(time.perf_counter() - t0)
        return suggest_ms, int(np.asarray(answer[0]).size)

    def time_learning(self) -> None:
        """Propagation rounds driven by one content recommender's feeds, then ``social.learn`` timed."""
        b, social, world, live = self.bench, self.social, self.world, self.live
        learn_rec = b.content[0] if b.content else "none"
        with PeakRSS() as pk:
            social.configure(recommender=learn_rec, friend_recommender="none", feed_size=b.k, suggestions=b.k)
            _forget_feeds(live)
            learn_s, round_s, attempts = [], [], []
            feed_adoptions = 0
            for t, mask in enumerate(self.masks):
                tick = self.base_tick + t
                running = [s for s in live if s.status == "running"]
                out = SocialTick()
                feeds = social.feeds(tick, mask, running, out) if learn_rec != "none" else {}
                social.take_exposures()
                t0 = time.perf_counter()
                stepped, att = [], 0
                for s in running:
                    before = s.feed_reached
                    res = s.advance(world, tick, mask, feeds.get(s.id))
                    feed_adoptions += s.feed_reached - before
                    att += int(res.attempts)
                    stepped.append(s)
                round_s.append(time.perf_counter() - t0)
                attempts.append(att)
                t0 = time.perf_counter()
                social.learn(tick, stepped, out)
                learn_s.append(time.perf_counter() - t0)
                for s in stepped:
                    s.last_round = None
                    s.take_events()
                del feeds
            self.r["learn"] = {
                **_stats(learn_s),
                "recommender": learn_rec,
                "round_ms_median": _ms(float(np.median(round_s))) if round_s else None,
                "attempts_per_tick_median": int(np.median(attempts)) if attempts else 0,
                "feed_adoptions": int(feed_adoptions),
            }
            self.note("learning", 1.0)
        self.phase_peak["learn"] = mb(pk.peak)

    def time_merge(self) -> None:
        """One ``world.merge_delta()`` holding one tick's follows and unfollows, beside a sort of the edge keys."""
        gc.collect()
        world = self.world
        with PeakRSS() as pk:
            merge: dict[str, Any] = {"merge_every": int(self.social.settings["merge_every"])}
            if self.kept_delta is not None and self.kept_delta[1].pending:
                name, delta, fol, unf = self.kept_delta
                self.kept_delta = None
                world.delta = delta
                t0 = time.perf_counter()
                changed = world.merge_delta()
                secs = time.perf_counter() - t0
                del delta
                gc.collect()
                keys = world.graph.sources().astype(np.int64) * world.n + world.graph.out_indices
                self.baselines.rng.shuffle(keys)
                t0 = time.perf_counter()
                keys.sort()
                base = time.perf_counter() - t0
                del keys
                merge.update(
                    {
                        "recommender": name,
                        "ms": _ms(secs),
                        "follows": fol,
                        "unfollows": unf,
                        "changed_edges": changed,
                        "edges_after": world.num_edges,
                        "amortised_ms_per_tick": _ms(secs / merge["merge_every"]),
                        "baseline_sort_ms": _ms(base),
                        "ratio_to_sort_baseline": _ratio(secs, base),
                    }
                )
            else:
                merge.update(
                    {
                        "ms": None,
                        "follows": 0,
                        "unfollows": 0,
                        "changed_edges": 0,
                        "note": "no follows or unfollows to merge",
                    }
                )
            self.note("merge", 1.0)
        self.phase_peak["merge"] = mb(pk.peak)
        self.r["merge"] = merge

    def memory_and_targets(self) -> None:
        """The memory figures (phase peaks, overheads over the world and the messages) and the targets."""
        r, mem, phase_peak = self.r, self.mem, self.phase_peak
        after_world_peak = max(phase_peak[p] for p in ("setup", "content", "friends", "learn", "merge"))
        after_setup_peak = max(phase_peak[p] for p in ("content", "friends", "learn", "merge"))
        mem["phase_peak_rss_mb"] = phase_peak
        mem["overhead_over_world_mb"] = round(after_world_peak - mem["rss_after_world_mb"], 1)
        mem["overhead_over_setup_mb"] = round(after_setup_peak - mem["rss_after_setup_mb"], 1)
        r["memory"] = mem
        mem["peak_rss_sampled_mb"] = max(phase_peak.values())
        mem["maxrss_mb"] = maxrss_mb()
        r["peak_rss_mb"] = max(mem["peak_rss_sampled_mb"], mem["maxrss_mb"])
        r["targets"] = dict(TARGETS)
        within = {
            "feed_ms": all(v["within_target"] for v in r["content"].values()),
            "friends_ms": all(v["within_target"] for v in r["friends"].values()),
            "world_budget_mb": mem["world_array_mb"] <= TARGETS["world_budget_mb"],
            "overhead_mb": mem["overhead_over_world_mb"] <= TARGETS["overhead_mb"],
            "peak_rss_mb": r["peak_rss_mb"] <= TARGETS["peak_rss_mb"],
        }
        r["within_targets"] = within
        r["all_within_targets"] = all(within.values())


def _notes(bench: SocialBench, info: dict[str, Any]) -> list[str]:
    """The notes of the report: how the messages, the online agents and the figures were made."""
    history, messages = bench.history, bench.messages
    return [
        (
            f"Messages: {history} history messages (IC p={HISTORY_P}, {info['history_seeds']} random seeds) ran to "
            f"completion first ({info['history_ticks']} ticks), the co-adoption history 'collaborative' needs; then "
            f"{messages} live messages (IC p={LIVE_P}, {info['live_seeds']} random seeds) were injected over "
            f"{WARM_TICKS} ticks, so they are 1-{WARM_TICKS} ticks old with growing adopter sets. Each message has "
            "1-3 random topics (for 'interest') and a random author (for 'chronological' and own-message removal). "
            "All of this ran with the social layer off."
        ),
        (
            "Online: exactly round(online * agents) active agents per tick, a seeded uniform draw (not the activity "
            "profiles), the same masks for every recommender. Sessions are not advanced while feeds and friends are "
            "timed, so every recommender sees the same messages; exposure records are dropped after each call and "
            "who-was-shown-what is cleared before each recommender, so new_exposures_first_tick is its own."
        ),
        (
            "Friends: the world's graph delta is emptied before each friends() call; the delta of one tick (the "
            "first friend recommender's last tick) is the one merged under 'merge'. A merge runs every merge_every "
            "ticks, so 'amortised_ms_per_tick' is its share of one tick."
        ),
        (
            "Memory: overhead_over_world_mb includes the messages' session arrays (about 11 bytes per agent per "
            "message); overhead_over_setup_mb is the social layer's own peak above RSS with those messages in "
            "place. The targets' 'overhead_mb' is checked against overhead_over_world_mb. RSS baselines are "
            "taken as the process stands (no malloc_trim): after the warm-up rounds the allocator keeps freed heap, "
            "so rss_after_setup_mb exceeds world plus session arrays."
        ),
        (
            "Baselines are measured once per timed tick, interleaved with the recommenders, on the same online "
            "masks; ratios are recommender median / baseline median."
        ),
        (
            "Live messages that finished before the measurement (possible on small worlds; see sessions.live_running) "
            "are still handed to feeds(), so every recommender scores exactly `messages` messages; the learning "
            "rounds advance only running ones."
        ),
    ]
