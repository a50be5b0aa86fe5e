"""Benchmark of agent memory (``sim.core.agentmemory``): what remembering costs per LLM agent, how large
prompts get, and that rule-based runs pay nothing.

Three measurements, each beside a baseline from the same run:

1. **LLM agents** — the ``llm`` model asks a capped sample of exposed agents through a local
   chat-completions server (an :mod:`agora_testing.fakeserver` subprocess) while a stream of messages is
   injected, once with memory on (the default ``memory=llm``) and once with ``memory=off`` (the
   baseline). Reported: agents that remember, their events, memory bytes per agent (the SQLite pages
   plus the per-agent columns, over the agents that remember), the distribution of the estimated prompt
   size (tokens, and of it the memory part) beside the baseline's, the median tick of each, and the
   CPU time memory work took in a tick (recording, recall, summaries, pruning; ``memory_seconds`` of
   the service). The ticks hold the HTTP client's work too (answers land on the loop while a tick runs),
   and with memory on there are more requests (summaries): compare the memory time, not the ticks.
2. **Recall** — the median time to build one agent's memory part (recent window, FTS5 recall, summary)
   over the agents that remember, beside one plain indexed ``SELECT`` of the same agent's recent rows.
3. **Recall at scale** — a memory of 200,000 events (400 agents x 500, the same common words in all but
   one event each): the median recall of common and of rare words with our index (each word a term of
   its agent) beside an FTS5 index of plain words with the agent as a column, from the same rows.
4. **Rule runs** — an independent cascade on ``rule_agents`` (1,000,000) agents with the default
   settings beside the same run with ``memory=off``, alternating three times on forks of one world: the
   median tick of each (their ratio), whether memory was made, and that both reach the same agents.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import time
from typing import Any

import numpy as np

from sim.bench.llm import _start_servers, _stop_servers
from sim.bench.measure import PeakRSS, Progress, mb
from sim.core.agentmemory import AgentMemory, query_words
from sim.engine.simulation import Simulation
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.store.create import synthetic_world

KEY = "sk-agora-bench-memory"


def _pcts(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0, "mean": 0.0}
    a = np.asarray(values, dtype=np.float64)
    return {
        "count": int(a.size),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "mean": round(float(a.mean()), 1),
    }


async def _llm_run(
    url: str, agents: int, ticks: int, llm_agents: int, memory: str, seed: int, progress: Progress, label: str
) -> dict[str, Any]:

    w = synthetic_world("bench-memory", agents, avg_degree=10, seed=seed)
    cfg = LLMConfig.resolve(
        {
            "base_urls": url,
            "calls_per_tick": 4 * llm_agents,
            "texts_per_tick": llm_agents,
            "memory": memory,
            "timeout": 30.0,
        },
        env={"OPENAI_API_KEY": KEY},
    )
    sim = Simulation(w, llm=LLMService(w, cfg))
    tick_s: list[float] = []
    mem_s: list[float] = []
    for t in range(ticks):
        if t % 2 == 0:
            sim.inject(
                f"Bulletin {t}: news about topic {t % 7} and the town council",
                seeds="top:50",
                model="llm",
                params={"llm_agents": llm_agents, "sample": "random"},
                seed=t,
            )
        t0, m0 = time.perf_counter(), sim.llm.memory_seconds
        await sim.step()
        tick_s.append(time.perf_counter() - t0)
        mem_s.append(sim.llm.memory_seconds - m0)
        for _ in range(3000):  # let this tick's answers land (a local server): the next tick applies them
            if sim.llm.in_flight == 0:
                break
            await asyncio.sleep(0.005)
        if progress:
            progress(label, (t + 1) / ticks)
    await sim.aclose(30)
    sizes = list(sim.llm.prompt_sizes)
    mem = w.memory
    n_agents = mem.agents
    counts = mem.count[mem.enrolled_indices()] if n_agents and mem.count is not None else np.empty(0)
    out = {
        "memory": memory,
        "ticks": ticks,
        "requests": sim.llm.stats()["calls"],
        "tick_ms_median": round(statistics.median(tick_s) * 1000, 2),
        "memory_ms_per_tick_median": round(statistics.median(mem_s) * 1000, 2),
        "memory_ms_per_tick_max": round(max(mem_s) * 1000, 2),
        "prompt_tokens": _pcts([s[0] for s in sizes]),
        "memory_tokens": _pcts([s[1] for s in sizes]),
        "agents_remembering": n_agents,
        "events": int(mem.total),
        "events_per_agent": {
            "mean": round(float(counts.mean()), 1) if counts.size else 0.0,
            "max": int(counts.max()) if counts.size else 0,
        },
        "summaries": mem._summaries(),
        "memory_bytes": mem.nbytes(),
        "bytes_per_agent": round(mem.nbytes() / n_agents) if n_agents else 0,
    }
    out["_sim"] = sim
    return out


def _recall_timing(sim: Any, repeats: int = 3) -> dict[str, Any]:
    """Median microseconds of one agent's memory part, beside a plain indexed read of its recent rows."""
    mem = sim.world.memory
    agents = mem.enrolled_indices()[:400].tolist()
    if not agents:
        return {"agents": 0}
    about = "news about topic 3 and the town council"
    ours, plain = [], []
    for _ in range(repeats):
        for a in agents:
            t0 = time.perf_counter()
            sim.llm.prepare([a], about)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mem.db.execute(
                "SELECT id, tick, kind, ref, other, text FROM memory WHERE agent = ? ORDER BY id DESC LIMIT ?",
                (a, sim.llm.config.memory_window),
            ).fetchall()
            plain.append(time.perf_counter() - t0)
    o, p = statistics.median(ours) * 1e6, statistics.median(plain) * 1e6
    return {
        "agents": len(agents),
        "memory_part_us_median": round(o, 1),
        "plain_select_us_median": round(p, 1),
        "ratio_to_plain": round(o / p, 1) if p else None,
    }


def _recall_scaling(agents: int = 400, per_agent: int = 500, samples: int = 200) -> dict[str, Any]:
    """Recall in a large memory (``agents`` x ``per_agent`` events about the same common words, one rare
    event each): our index (each word a term of its agent) beside an FTS5 index of plain words with the
    agent as a column, built from the same rows in the same run."""

    mem = AgentMemory()
    mem.enroll(np.arange(agents), agents)
    t0 = time.perf_counter()
    for t in range(per_agent - 1):
        mem.record(
            t, "seen", np.arange(agents), ref=t, text=f"Bulletin {t}: news about topic {t % 7} and the town council"
        )
    mem.record(per_agent, "seen", np.arange(agents), ref=per_agent, text="The old bridge on Elm street collapsed")
    build_s = time.perf_counter() - t0
    plain = sqlite3.connect(":memory:")
    plain.execute("CREATE VIRTUAL TABLE f USING fts5(who, text)")
    rows = mem.db.execute("SELECT id, 'a' || agent, text FROM memory").fetchall()
    t0 = time.perf_counter()
    plain.executemany("INSERT INTO f (rowid, who, text) VALUES (?, ?, ?)", rows)
    plain_build_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "events": int(mem.total),
        "agents": agents,
        "build_us_per_event": round(build_s / mem.total * 1e6, 1),
        "baseline_build_us_per_event": round(plain_build_s / mem.total * 1e6, 1),
    }
    for label, about in (("common_words", "news about the town council"), ("rare_words", "the bridge on Elm street")):
        words = query_words(about)
        ours, base = [], []
        for a in range(min(samples, agents)):
            t0 = time.perf_counter()
            mem.recall(a, about, 5)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            plain.execute(
                "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT 5",
                (f"who:a{a} AND (" + " OR ".join(f'"{w}"' for w in words) + ")",),
            ).fetchall()
            base.append(time.perf_counter() - t0)
        o, b = statistics.median(ours) * 1000, statistics.median(base) * 1000
        out[label] = {
            "ms_median": round(o, 3),
            "baseline_plain_words_ms_median": round(b, 3),
            "ratio_to_baseline": round(o / b, 3),
        }
    plain.close()
    return out


async def _rule_run(base: Any, memory: str, ticks: int, seed: int) -> dict[str, Any]:

    w = base.fork()
    sim = Simulation(w, llm=LLMService(w, LLMConfig.resolve({"memory": memory, "offline": True}, env={})))
    sim.inject("a rule-based cascade", seeds="random:100", model="ic", params={"p": 0.05}, seed=seed)
    times = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        await sim.step()
        times.append(time.perf_counter() - t0)
    return {
        "tick_ms_median": statistics.median(times) * 1000,
        "memory_made": w.memory._db is not None,
        "memory_bytes": w.memory.nbytes(),
        "reached": int(sum(s.reached for s in w.sessions)),
    }


async def _rule_runs(agents: int, ticks: int, seed: int, repeats: int = 3) -> dict[str, Any]:
    """The same cascade with the default settings and with ``memory=off``, alternating ``repeats`` times
    on forks of one world: the median of each side's median tick."""

    base = synthetic_world("bench-rule", agents, avg_degree=10, seed=seed)
    on, off = [], []
    for _ in range(repeats):
        on.append(await _rule_run(base, "llm", ticks, seed))
        off.append(await _rule_run(base, "off", ticks, seed))
    med_on = statistics.median(r["tick_ms_median"] for r in on)
    med_off = statistics.median(r["tick_ms_median"] for r in off)
    return {
        "agents": agents,
        "ticks": ticks,
        "repeats": repeats,
        "default": {
            "memory": "llm",
            "tick_ms_median": round(med_on, 2),
            "memory_made": any(r["memory_made"] for r in on),
            "memory_bytes": max(r["memory_bytes"] for r in on),
            "reached": on[0]["reached"],
        },
        "baseline_off": {"memory": "off", "tick_ms_median": round(med_off, 2), "reached": off[0]["reached"]},
        "ratio": round(med_on / max(med_off, 1e-9), 3),
        "same_trajectory": on[0]["reached"] == off[0]["reached"],
    }


def bench_memory(
    *,
    agents: int = 3000,
    ticks: int = 40,
    llm_agents: int = 20,
    latency: float = 0.005,
    scaling: tuple[int, int] = (400, 500),
    rule_agents: int = 1_000_000,
    rule_ticks: int = 20,
    seed: int = 1,
    progress: Progress = None,
) -> dict[str, Any]:
    """See the module docstring: the LLM runs (``agents``, ``ticks``, ``llm_agents`` asked per round, the
    server's ``latency``), recall at scale (``scaling``: agents and events each) and the rule runs. Keys:
    ``llm`` (``with_memory``, ``baseline_off``, their prompt-size ratio), ``recall``, ``rule_runs``
    (``default``, ``baseline_off``, ``ratio``), ``peak_rss_mb``."""

    procs, urls = _start_servers(1, latency)
    peak = PeakRSS()
    try:

        async def main() -> dict[str, Any]:
            on = await _llm_run(urls[0], agents, ticks, llm_agents, "llm", seed, progress, "LLM agents with memory")
            off = await _llm_run(urls[0], agents, ticks, llm_agents, "off", seed, progress, "LLM agents without memory")
            recall = _recall_timing(on.pop("_sim"))
            off.pop("_sim")
            if progress:
                progress("rule runs", 0.0)
            rules = await _rule_runs(rule_agents, rule_ticks, seed)
            if progress:
                progress("recall in a large memory", 0.0)
            large = _recall_scaling(*scaling)
            return {"on": on, "off": off, "recall": recall, "rules": rules, "scaling": large}

        with peak:
            r = asyncio.run(main())
    finally:
        _stop_servers(procs)
    on, off = r["on"], r["off"]
    base_p50 = off["prompt_tokens"]["p50"] or 1.0
    return {
        "agents": agents,
        "ticks": ticks,
        "llm_agents_per_round": llm_agents,
        "server_latency_s": latency,
        "llm": {
            "with_memory": on,
            "baseline_off": off,
            "prompt_p50_ratio_to_baseline": round(on["prompt_tokens"]["p50"] / base_p50, 2),
            "memory_tokens_budget": 400,
        },
        "recall": r["recall"],
        "recall_scaling": r["scaling"],
        "rule_runs": r["rules"],
        "peak_rss_mb": round(mb(peak.peak), 1),
        "cpus": os.cpu_count(),
    }
