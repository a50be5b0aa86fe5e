"""Benchmark of a real local model (``agora bench llm --local``): SmolLM2 served by llama.cpp
(:class:`~sim.llm.local.LocalServer`) beside the project's fake server, in the same run.

Both are asked the same decision prompts, built as a run builds them (:func:`sim.llm.prompts.decision_prompt`)
for agents of a small generated world about posts its agents wrote (the offline generator's), each prompt once
with :data:`~sim.llm.prompts.DECISION_SCHEMA` and once without (alternating which goes first), the cache off so
that every request reaches the model; then a few interviews (with :data:`~sim.llm.prompts.INTERVIEW_SCHEMA`).
What is measured per server and way: decisions per second (one at a time, as the local model serves them), p50
and p95 latency, and the share of answers that parse as a decision (:func:`~sim.llm.prompts.parse_decision`).
See :func:`bench_llm_local` for the output keys.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.bench.llm import _start_servers, _stop_servers
from sim.bench.measure import PeakRSS, mb
from sim.core.topics import mask_topics
from sim.llm import local, offline, prompts
from sim.llm.client import LLMClient
from sim.llm.config import LLMConfig

#: Decision prompts asked each way (with the schema, without) by default, and interviews: measured, 3.9 minutes
#: on this 2-core machine at a load of 8 (a decision without the schema runs on to ~60 tokens of prose).
DECISIONS = 40
INTERVIEWS = 3
#: The issue's target: the share of decisions that parse when asked with the schema, on SmolLM2.
TARGET_PARSE_SHARE = 0.95
#: Agents of the generated world the prompts are drawn from.
AGENTS = 200
#: Where the decision prompt's instruction starts: a small model may copy its words into its answer's text
#: (counted: ``copied_example``).
INSTRUCTION = "What do you do?"
QUESTIONS = (
    "What do you do for fun?",
    "What do you make of the news you saw this week?",
    "Who do you trust online, and why?",
    "What would make you leave this network?",
    "What did you post about lately?",
)


def decision_prompts(count: int, seed: int) -> tuple[list[list[dict[str, str]]], list[list[dict[str, str]]]]:
    """``count`` decision prompts and ``count`` interview prompts (distinct agents, posts and questions drawn
    from a generated world of :data:`AGENTS` agents, seeded by ``seed``)."""
    from sim.store.create import synthetic_world  # noqa: PLC0415 - the store is needed only to draw prompts

    w = synthetic_world("bench-llm-local", AGENTS, avg_degree=6, seed=seed)
    rng = np.random.default_rng(seed)
    interests = w.columns["interests"]
    decisions, interviews = [], []
    for k in range(count):
        agent, author, sharer = (int(x) for x in rng.choice(AGENTS, size=3, replace=False))
        topics = mask_topics(int(interests[author]))
        post = offline.write_post(w.persona(author), topics, seed * 1000 + k)
        decisions.append(
            prompts.decision_prompt(
                w.persona(agent),
                mask_topics(int(interests[agent])),
                post,
                author=w.persona(author).name,
                sharer=w.persona(sharer).name if k % 3 == 0 else None,
            )
        )
        interviews.append(
            prompts.interview_prompt(
                w.persona(agent), mask_topics(int(interests[agent])), QUESTIONS[k % len(QUESTIONS)], seen=[post]
            )
        )
    return decisions, interviews


def _copied(text: str, messages: list[dict[str, str]]) -> bool:
    """Whether a decision's ``text`` is words of the prompt's instruction (not of the post: quoting it is fair)."""
    said = text.strip().strip(".").lower()
    instruction = messages[-1]["content"].rsplit(INSTRUCTION, 1)[-1].lower()
    return len(said) >= 8 and said in instruction


def _figures(lat: list[float], parsed: list[bool], answered: list[bool], tokens_out: list[int]) -> dict[str, Any]:
    """One way's figures: ``count``, ``answered`` (by the server, no failure), ``parsed``, ``parse_share``,
    ``per_second`` (answers one at a time: count / the sum of latencies), ``p50_ms``, ``p95_ms``, ``max_ms``,
    ``mean_tokens_out``."""
    n = len(lat)
    arr = np.asarray(lat, dtype=np.float64)
    return {
        "count": n,
        "answered": int(sum(answered)),
        "parsed": int(sum(parsed)),
        "parse_share": round(sum(parsed) / n, 4) if n else 0.0,
        "per_second": round(n / float(arr.sum()), 3) if n and arr.sum() > 0 else 0.0,
        "p50_ms": round(1000 * float(np.percentile(arr, 50)), 1) if n else 0.0,
        "p95_ms": round(1000 * float(np.percentile(arr, 95)), 1) if n else 0.0,
        "max_ms": round(1000 * float(arr.max()), 1) if n else 0.0,
        "mean_tokens_out": round(float(np.mean(tokens_out)), 1) if n else 0.0,
    }


async def _measure(
    config: LLMConfig,
    decisions: list[list[dict[str, str]]],
    interviews: list[list[dict[str, str]]],
    label: str,
    step: Callable[[str], None],
) -> dict[str, Any]:
    """One server's figures: ``schema`` and ``plain`` (decisions, :func:`_figures` plus ``why_not``: the
    parser's reasons, counted; and ``sample``, the first answer), ``interview`` (with the schema), ``stats``
    (the client's counters, the warm-up included) and ``schema_form`` (the form the server took the schema in)."""
    client = LLMClient(config)
    ways: dict[str, dict[str, list[Any]]] = {
        w: {"lat": [], "parsed": [], "answered": [], "tout": []} for w in ("schema", "plain", "interview")
    }
    samples: dict[str, str] = {}
    copied: Counter[str] = Counter()
    why_not: dict[str, Counter[str]] = {"schema": Counter(), "plain": Counter()}
    try:
        # Warm-up (not measured): the server's first answer, and the schema's form found out.
        await client.complete(decisions[0], schema=prompts.DECISION_SCHEMA)

        async def one(way: str, messages: list[dict[str, str]]) -> None:
            interview = way == "interview"
            schema = prompts.INTERVIEW_SCHEMA if interview else prompts.DECISION_SCHEMA if way == "schema" else None
            t0 = time.perf_counter()
            c = await client.complete(messages, schema=schema)
            acc = ways[way]
            acc["lat"].append(time.perf_counter() - t0)
            acc["answered"].append(c.source == "llm")
            acc["tout"].append(c.tokens_out)
            samples.setdefault(way, prompts.clean(c.text, 200))
            ok = False
            if c.source == "llm":
                try:
                    if interview:
                        prompts.parse_answer(c.text)
                    elif _copied(prompts.parse_decision(c.text).text, messages):
                        copied[way] += 1
                    ok = True
                except ValueError as exc:
                    if not interview:
                        why_not[way][re.sub(r"'[^']*'", "...", str(exc))] += 1
            elif not interview:
                why_not[way][f"no answer: {c.reason}"] += 1
            acc["parsed"].append(ok)

        for k, messages in enumerate(decisions):
            for way in ("schema", "plain") if k % 2 == 0 else ("plain", "schema"):  # alternate: drift hits both
                await one(way, messages)
            step(f"{label}: decision {k + 1}/{len(decisions)}")
        for k, messages in enumerate(interviews):
            await one("interview", messages)
            step(f"{label}: interview {k + 1}/{len(interviews)}")
        out: dict[str, Any] = {}
        for way, acc in ways.items():
            out[way] = _figures(acc["lat"], acc["parsed"], acc["answered"], acc["tout"])
            if way in why_not:
                out[way]["why_not"] = dict(why_not[way].most_common())
            out[way]["sample"] = samples.get(way, "")
            if way in why_not:
                out[way]["copied_example"] = copied[way]
        out["stats"] = client.stats.to_dict()
        out["schema_form"] = client.servers_info()[0]["schema"]
        return out
    finally:
        await client.aclose()


def bench_llm_local(
    *,
    decisions: int = DECISIONS,
    interviews: int = INTERVIEWS,
    model: str | None = None,
    seed: int = 1,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Decisions and interviews on the real local model beside the fake server, in one run (see the module
    docstring).

    The local server is started first (so a missing extra or a bad model file is refused before anything else
    runs), with :data:`sim.llm.local.LOCAL_DEFAULTS` (one request at a time, 300 s timeout, one retry), the
    default ``max_tokens`` (120) and temperature (0.7), the cache off; the fake server
    (``python -m agora_testing.fakeserver``, no latency) gets the same settings and prompts. Both are stopped
    at the end, on an error too.

    Returns a JSON-able dict: ``benchmark`` ("llm-local"), ``decisions`` and ``interviews`` (asked each way),
    ``agents`` and ``seed`` (of the world the prompts come from), ``cpu_count``, ``load_average`` (1, 5 and 15
    minutes, at the start and at the end), ``model`` (``name``, ``bytes``), ``threads``, ``startup_s`` (the local
    server's start, its first answer included); ``local`` and ``fake``: ``schema`` and ``plain`` (decisions:
    ``count``, ``answered``, ``parsed``, ``parse_share`` in [0, 1], ``per_second``, ``p50_ms``, ``p95_ms``,
    ``max_ms``, ``mean_tokens_out``, ``why_not``, ``sample``: the first answer, at most 200 characters,
    ``copied_example``: decisions that parse but whose text is words of the prompt's instruction), ``interview``
    (the same, parsed by ``parse_answer``), ``stats``, ``schema_form``; then ``target_parse_share``, ``target_met``
    (the local model's ``schema.parse_share`` reaches it), ``peak_rss_mb`` (this process) and ``total_s``.

    Raises:
        ValueError: fewer than one decision or interview asked for.
        BadParameterError, BadFileError, ResourceError: as :meth:`sim.llm.local.LocalServer.start`.
    """
    if decisions < 1 or interviews < 1:
        raise ValueError("decisions and interviews must be at least 1")
    t0 = time.perf_counter()
    total = 2 * (decisions + interviews) + 2
    done = 0

    def step(what: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(what, min(1.0, done / total))

    r: dict[str, Any] = {
        "benchmark": "llm-local",
        "decisions": decisions,
        "interviews": interviews,
        "agents": AGENTS,
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
    }
    procs: list[subprocess.Popen[bytes]] = []
    with local.LocalServer(model) as server, PeakRSS(interval=0.2) as pk:
        assert server.model is not None
        r["model"] = {"name": server.model_name, "bytes": server.model.stat().st_size}
        r["threads"] = server.threads
        r["startup_s"] = round(server.startup_seconds or 0.0, 3)
        step("local server started")
        ask, ivs = decision_prompts(max(decisions, interviews), seed)
        ask, ivs = ask[:decisions], ivs[:interviews]
        settings = LLMConfig.resolve({**local.LOCAL_DEFAULTS, "cache": False})
        try:
            procs, urls = _start_servers(1, 0.0)
            step("fake server started")
            fake = LLMConfig.resolve(
                {**local.LOCAL_DEFAULTS, "cache": False, "base_urls": urls[0]}, env={"OPENAI_API_KEY": "bench"}
            )
            r["fake"] = asyncio.run(_measure(fake, ask, ivs, "fake", step))
            r["local"] = asyncio.run(_measure(server.config(settings), ask, ivs, "local", step))
        finally:
            _stop_servers(procs)
    r["target_parse_share"] = TARGET_PARSE_SHARE
    r["target_met"] = bool(r["local"]["schema"]["parse_share"] >= TARGET_PARSE_SHARE)
    r["load_average"]["end"] = [round(x, 2) for x in os.getloadavg()]
    r["peak_rss_mb"] = mb(pk.peak)
    r["total_s"] = round(time.perf_counter() - t0, 2)
    if progress:
        progress("done", 1.0)
    return r


def local_lines(r: dict[str, Any]) -> list[str]:
    """The text lines of :func:`bench_llm_local`'s figures."""
    lines = [
        f"model {r['model']['name']} ({r['model']['bytes'] / 1e6:.0f} MB), {r['threads']} thread(s), started in "
        f"{r['startup_s']:.1f} s; load average {r['load_average']['start'][0]} -> {r['load_average']['end'][0]}",
    ]
    for server in ("local", "fake"):
        for way in ("schema", "plain"):
            f = r[server][way]
            lines.append(
                f"{server:<5} {way:<6} decisions  {f['per_second']:>7.2f}/s  p50 {f['p50_ms']:>8.0f} ms  "
                f"p95 {f['p95_ms']:>8.0f} ms  parse {100 * f['parse_share']:5.1f}% ({f['parsed']}/{f['count']}; "
                f"{f['copied_example']} copy the instruction)"
            )
        f = r[server]["interview"]
        lines.append(
            f"{server:<5} interview            p50 {f['p50_ms']:>8.0f} ms  p95 {f['p95_ms']:>8.0f} ms  "
            f"parse {100 * f['parse_share']:5.1f}% ({f['parsed']}/{f['count']})"
        )
    lines.append(
        f"target: {100 * r['target_parse_share']:.0f}% of decisions parse with the schema on the local model: "
        f"{r['target_met']}"
    )
    return lines
