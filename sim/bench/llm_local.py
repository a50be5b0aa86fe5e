"""Benchmark of a real local model (``agora bench llm --local``): SmolLM2 served by llama.cpp
(:class:`~sim.llm.local.LocalPool`) as Agora serves it now, beside today's setup before issue 76 (the baseline) and
the project's fake server, in the same run.

The decision prompts are built as a run builds them (:func:`sim.llm.prompts.decision_prompt`) for agents of a small
generated world about posts its agents wrote (the offline generator's). What is measured:

- **Throughput** (``schema``): the same decisions, asked with :data:`~sim.llm.prompts.DECISION_SCHEMA`, of the
  local model as served now (``slots`` servers, the prompt's shared parts first, the last token's logits only, the
  grammar checked once a token, the default model re-encoded as Q8_0; the prompt cache as asked) and of the
  baseline, as served before issue 76 (one server, no prompt cache, the persona first: :func:`baseline_prompt`,
  every prompt token's logits kept, the grammar over the whole vocabulary, the model file as it ships), in
  alternating chunks of
  :data:`CHUNK` decisions so that a change of the machine's load falls on both. Schema-valid decisions per wall
  second (``valid_per_second``, all slots together), latency, the share that parse, and how much of the prompts
  the model did not evaluate again (``prompt_cache``: read from llama.cpp's verbose output).
- **Without the schema** (``plain``, the first :data:`PLAIN` decisions) and a few **interviews** (with
  :data:`~sim.llm.prompts.INTERVIEW_SCHEMA`), on the local model and the fake server.

The client's cache is off so that every request reaches the model. See :func:`bench_llm_local` for the keys.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from sim.bench.llm import _start_servers, _stop_servers
from sim.bench.measure import PeakRSS, mb
from sim.core.persona import Persona
from sim.core.topics import mask_topics
from sim.llm import local, offline, prompts
from sim.llm.client import LLMClient
from sim.llm.config import LLMConfig

#: Decisions asked of each setup by default, and interviews. ``--decisions 100`` is the issue's measure.
DECISIONS = 40
INTERVIEWS = 3
#: Decisions asked without the schema (the first ones), at most: a small model answers them in prose of ~60 tokens.
PLAIN = 20
#: Decisions of one setup before the other's turn (the throughput is measured in alternating chunks).
CHUNK = 20
#: The issue's targets on this 2-core machine: at least 95 % of decisions parse when asked with the schema, and
#: at least one schema-valid decision a wall second (at a load average of 2 or less).
TARGET_PARSE_SHARE = 0.95
TARGET_VALID_PER_SECOND = 1.0
TARGET_LOAD = 2.0
#: Answers of each setup kept in the report beside their situations (``schema.examples``).
EXAMPLES = 20
#: Agents of the generated world the prompts are drawn from.
AGENTS = 200
#: Where the decision instruction starts: a small model may copy its words into its answer's text (counted:
#: ``copied_example``).
INSTRUCTION = "What do you do?"
QUESTIONS = (
    "What do you do for fun?",
    "What do you make of the news you saw this week?",
    "Who do you trust online, and why?",
    "What would make you leave this network?",
    "What did you post about lately?",
)
#: What ``prompt_cache.hit_rate`` is, in words (it goes in the report).
HIT_RATE_MEANS = (
    "prompt tokens the model did not evaluate again (a prefix of the tokens it held: the previous prompt's, or a "
    "state the prompt cache restored), over all prompt tokens of the measured decisions; read from llama.cpp's "
    "verbose output ('N prefix-match hit') and the servers' usage counts"
)


def baseline_prompt(
    persona: Persona, interests: Sequence[str], message: str, *, author: str | None = None, sharer: str | None = None
) -> list[dict[str, str]]:
    """A decision prompt as Agora built it before issue 76 (the baseline's): the persona first, the instruction
    last, so that two agents' prompts shared only the chat template's first tokens."""
    likes = ", ".join(interests[:8]) if interests else "nothing in particular"
    system = (
        f"You are {persona.name}, a member of a social network. About you: {persona.bio} "
        f"Your writing style: {persona.style}. You are interested in: {likes}. "
        "Stay in character. Write as this person would on social media: short, first person, no hashtags spam."
    )
    via = f"{sharer} shared" if sharer else "You see"
    user = (
        f"{via} this post by {author or 'an account you do not know'}: {prompts.quote(message)}. "
        'What do you do? Answer with one JSON object and nothing else, with two keys: "action", one of "repost", '
        '"like", "reply" or "ignore"; and "text", what you write about it (at most 20 words, in your own words '
        'as this person). Use "reply" only with a text.'
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class Prompts:
    """The bench's prompts: ``decisions`` (as Agora builds them now), the same decisions as the ``baseline``
    built them (:func:`baseline_prompt`), ``interviews``, and each decision's ``situations`` in words (the agent,
    its bio and style, the post and its author), for reading the answers beside them."""

    decisions: list[list[dict[str, str]]]
    baseline: list[list[dict[str, str]]]
    interviews: list[list[dict[str, str]]]
    situations: list[dict[str, str]] = field(default_factory=list)


def bench_prompts(count: int, seed: int) -> Prompts:
    """``count`` decisions (each built both ways) and ``count`` interviews: distinct agents, posts and questions
    drawn from a generated world of :data:`AGENTS` agents, seeded by ``seed``."""
    from sim.store.create import synthetic_world  # noqa: PLC0415 - the store is needed only to draw prompts

    w = synthetic_world("bench-llm-local", AGENTS, avg_degree=6, seed=seed)
    rng = np.random.default_rng(seed)
    interests = w.columns["interests"]
    out = Prompts([], [], [])
    for k in range(count):
        agent, author, sharer = (int(x) for x in rng.choice(AGENTS, size=3, replace=False))
        post = offline.write_post(w.persona(author), mask_topics(int(interests[author])), seed * 1000 + k)
        persona, likes = w.persona(agent), mask_topics(int(interests[agent]))
        by, via = w.persona(author).name, w.persona(sharer).name if k % 3 == 0 else None
        out.decisions.append(prompts.decision_prompt(persona, likes, post, author=by, sharer=via))
        out.baseline.append(baseline_prompt(persona, likes, post, author=by, sharer=via))
        out.situations.append(
            {"agent": persona.name, "bio": persona.bio, "style": persona.style, "author": by, "post": post}
        )
        question = QUESTIONS[k % len(QUESTIONS)]
        out.interviews.append(prompts.interview_prompt(persona, likes, question, seen=[post]))
    return out


def decision_prompts(count: int, seed: int) -> tuple[list[list[dict[str, str]]], list[list[dict[str, str]]]]:
    """``count`` decision prompts (as Agora builds them now) and ``count`` interview prompts (:func:`bench_prompts`)."""
    p = bench_prompts(count, seed)
    return p.decisions, p.interviews


def _copied(text: str, messages: list[dict[str, str]]) -> bool:
    """Whether a decision's ``text`` is words of the prompt's instruction (not of the post: quoting it is fair)."""
    said = text.strip().strip(".").lower()
    if len(said) < 8:
        return False
    for m in messages:
        content = m["content"]
        if prompts.DECISION_TASK in content:
            if said in prompts.DECISION_TASK.lower():
                return True
        elif INSTRUCTION in content and said in content.rsplit(INSTRUCTION, 1)[-1].lower():
            return True
    return False


@dataclass
class _Answer:
    """One request's outcome, as the bench keeps it."""

    seconds: float
    answered: bool
    parsed: bool
    tokens_in: int
    tokens_out: int
    text: str
    why_not: str | None
    copied: bool


async def _ask(
    client: LLMClient, way: str, messages_list: Sequence[list[dict[str, str]]], workers: int
) -> tuple[list[_Answer], float]:
    """Ask every prompt of ``messages_list`` one ``way`` ("schema", "plain" or "interview"), ``workers`` at a time
    (each waits for its answer before it asks the next: no request queues at a server); the answers in order, and
    the wall seconds of them all."""
    schema = {"schema": prompts.DECISION_SCHEMA, "interview": prompts.INTERVIEW_SCHEMA}.get(way)
    answers: list[_Answer | None] = [None] * len(messages_list)
    queue = iter(range(len(messages_list)))

    async def worker() -> None:
        for k in queue:
            messages = messages_list[k]
            t0 = time.perf_counter()
            c = await client.complete(messages, schema=schema)
            seconds = time.perf_counter() - t0
            parsed, why, copied = False, None, False
            if c.source != "llm":
                why = f"no answer: {c.reason}"
            else:
                try:
                    if way == "interview":
                        prompts.parse_answer(c.text)
                    else:
                        copied = _copied(prompts.parse_decision(c.text).text, messages)
                    parsed = True
                except ValueError as exc:
                    why = re.sub(r"'[^']*'", "...", str(exc))
            answers[k] = _Answer(seconds, c.source == "llm", parsed, c.tokens_in, c.tokens_out, c.text, why, copied)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    return [a for a in answers if a is not None], time.perf_counter() - t0


def _figures(answers: list[_Answer], wall: float) -> dict[str, Any]:
    """One way's figures: ``count``, ``answered`` (by the server, no failure), ``parsed``, ``parse_share``,
    ``wall_s``, ``per_second`` (answers a wall second), ``valid_per_second`` (parsed answers a wall second, all
    slots together), ``p50_ms``, ``p95_ms``, ``max_ms`` (one request's latency), ``tokens_in``, ``mean_tokens_out``,
    ``why_not`` (the parser's reasons, counted), ``copied_example`` and ``sample`` (the first answer)."""
    n = len(answers)
    lat = np.asarray([a.seconds for a in answers], dtype=np.float64)
    parsed = sum(a.parsed for a in answers)
    ms = {f"{k}_ms": round(1000 * float(np.percentile(lat, q)), 1) if n else 0.0 for k, q in (("p50", 50), ("p95", 95))}
    return {
        "count": n,
        "answered": sum(a.answered for a in answers),
        "parsed": parsed,
        "parse_share": round(parsed / n, 4) if n else 0.0,
        "wall_s": round(wall, 3),
        "per_second": round(n / wall, 3) if wall > 0 else 0.0,
        "valid_per_second": round(parsed / wall, 3) if wall > 0 else 0.0,
        **ms,
        "max_ms": round(1000 * float(lat.max()), 1) if n else 0.0,
        "tokens_in": sum(a.tokens_in for a in answers),
        "mean_tokens_out": round(float(np.mean([a.tokens_out for a in answers])), 1) if n else 0.0,
        "why_not": dict(Counter(a.why_not for a in answers if a.why_not).most_common()),
        "copied_example": sum(a.copied for a in answers),
        "sample": prompts.clean(answers[0].text, 200) if answers else "",
    }


@dataclass
class _Setup:
    """One way of serving the model that the throughput is measured on: its client, its servers (None: the fake
    server's), its prompts, and what it answered so far."""

    name: str
    client: LLMClient
    pool: local.LocalPool | None
    prompts: list[list[dict[str, str]]]
    warm: list[list[dict[str, str]]]
    answers: list[_Answer] = field(default_factory=list)
    wall: float = 0.0

    @property
    def workers(self) -> int:
        return self.pool.slots if self.pool is not None else 1

    async def warm_up(self) -> None:
        """One decision per server (of :attr:`warm`), not measured: the client finds the schema's form each server
        takes."""
        await _ask(self.client, "schema", self.warm[: self.workers], self.workers)

    async def chunk(self, lo: int, hi: int) -> None:
        answers, wall = await _ask(self.client, "schema", self.prompts[lo:hi], self.workers)
        self.answers += answers
        self.wall += wall

    def report(self, reuse: local.PromptReuse | None) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": _figures(self.answers, self.wall)}
        if self.pool is not None and reuse is not None:
            tokens = out["schema"]["tokens_in"]
            out["prompt_cache"] = {
                "on": self.pool.servers[0].prompt_cache,
                "hit_rate": round(reuse.tokens / tokens, 4) if tokens else 0.0,
                "reused_tokens": reuse.tokens,
                "prompt_tokens": tokens,
                "prompts_reusing": reuse.prompts,
                "restored_from_cache": reuse.restored,
            }
        return out


async def _throughput(setups: list[_Setup], count: int, step: Callable) -> None:
    """The decisions of every (warmed-up) setup, in alternating chunks of :data:`CHUNK` (which setup goes first
    alternates)."""
    for n, lo in enumerate(range(0, count, CHUNK)):
        hi = min(count, lo + CHUNK)
        for s in setups if n % 2 == 0 else setups[::-1]:
            await s.chunk(lo, hi)
            step(f"{s.name}: decisions {hi}/{count}", hi - lo)


async def _ways(client: LLMClient, p: Prompts, plain: int, interviews: int, workers: int, step: Callable) -> dict:
    """Decisions without the schema and interviews, ``workers`` at a time."""
    out: dict[str, Any] = {}
    for way, asked in (("plain", p.decisions[:plain]), ("interview", p.interviews[:interviews])):
        answers, wall = await _ask(client, way, asked, workers)
        out[way] = _figures(answers, wall)
        if way == "interview":
            for key in ("why_not", "copied_example"):
                out[way].pop(key)
        step(f"{way}: {len(asked)} asked", len(asked))
    return out


def _config(base: dict[str, Any], pool: local.LocalPool) -> LLMConfig:
    settings = LLMConfig.resolve({**local.LOCAL_DEFAULTS, "cache": False, **base, "concurrency": pool.slots})
    return pool.config(settings)


async def _run(
    pools: dict[str, local.LocalPool], fake_url: str, p: Prompts, sizes: dict[str, int], step: Callable
) -> dict[str, Any]:
    """The measurements (see the module docstring) on started servers: ``pools`` (``local`` and ``baseline``)."""
    count = sizes["decisions"]
    clients = {name: LLMClient(_config({}, pool)) for name, pool in pools.items()}
    fake = LLMClient(
        LLMConfig.resolve(
            {**local.LOCAL_DEFAULTS, "cache": False, "base_urls": fake_url, "concurrency": pools["local"].slots},
            env={"OPENAI_API_KEY": "bench"},
        )
    )
    try:
        setups = [
            _Setup("local", clients["local"], pools["local"], p.decisions[:count], p.decisions[count:]),
            _Setup("baseline", clients["baseline"], pools["baseline"], p.baseline[:count], p.baseline[count:]),
        ]
        for s in setups:
            await s.warm_up()
        marks = {name: pool.log_sizes() for name, pool in pools.items()}  # the warm-ups' reuse not counted
        await _throughput(setups, count, step)
        reuse = {name: pool.prompt_reuse(marks[name]) for name, pool in pools.items()}
        out = {s.name: s.report(reuse[s.name]) for s in setups}
        for s in setups:  # the answers beside their situations, to read (a rubric, docs/llm-agents.md)
            out[s.name]["schema"]["examples"] = [
                {**situation, "answer": prompts.clean(a.text, 300)}
                for situation, a in zip(p.situations[:EXAMPLES], s.answers, strict=False)
            ]
        fake_setup = _Setup("fake", fake, None, p.decisions[:count], p.decisions[count:])
        await fake_setup.warm_up()
        await _throughput([fake_setup], count, step)
        out["fake"] = fake_setup.report(None)
        for name, client in (("local", clients["local"]), ("fake", fake)):
            out[name].update(await _ways(client, p, sizes["plain"], sizes["interviews"], pools["local"].slots, step))
        for name, client in (*clients.items(), ("fake", fake)):
            out[name]["stats"] = client.stats.to_dict()
            out[name]["schema_form"] = client.servers_info()[0]["schema"]
        return out
    finally:
        for client in (*clients.values(), fake):
            await client.aclose()


def _servers_rss_mb(pools: dict[str, local.LocalPool]) -> dict[str, list[float]]:
    """Each server's resident memory now, in MB."""
    out: dict[str, list[float]] = {}
    for name, pool in pools.items():
        out[name] = []
        for s in pool.servers:
            try:
                out[name].append(mb(psutil.Process(s.process.pid).memory_info().rss) if s.process else 0.0)
            except psutil.Error:
                out[name].append(0.0)
    return out


def bench_llm_local(
    *,
    decisions: int = DECISIONS,
    interviews: int = INTERVIEWS,
    model: str | None = None,
    slots: int = local.SLOTS,
    prompt_cache: bool = local.PROMPT_CACHE,
    seed: int = 1,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """The local model as Agora serves it (``slots`` servers, ``prompt_cache``, the prompts' shared parts first)
    beside the baseline (one server, no prompt cache, the persona first) and the fake server, in one run (see the
    module docstring). The local servers are started first (so a missing extra or a bad model file is refused
    before anything else runs), with :data:`sim.llm.local.LOCAL_DEFAULTS` (300 s timeout, one retry), the default
    ``max_tokens`` (120) and temperature (0.7), the client's cache off; the fake server
    (``python -m agora_testing.fakeserver``, no latency) gets the same settings and prompts. All are stopped at the
    end, on an error too.

    Returns a JSON-able dict: ``benchmark`` ("llm-local"), ``decisions``, ``plain`` (decisions asked without the
    schema), ``interviews``, ``agents`` and ``seed`` (of the world the prompts come from), ``cpu_count``,
    ``load_average`` (1, 5 and 15 minutes, at the ``start`` and at the ``end``), ``model`` (``name``, ``bytes``),
    ``served_file`` (the file the local model's servers load: ``name``, ``bytes``; the baseline's is ``model``),
    ``threads`` (each server's), ``slots``, ``startup_s`` (the local servers' start, their first answers included);
    ``local``, ``baseline`` and ``fake``: ``schema`` (the throughput's decisions: ``count``, ``answered``,
    ``parsed``, ``parse_share`` in [0, 1], ``wall_s``, ``per_second``, ``valid_per_second``, ``p50_ms``,
    ``p95_ms``, ``max_ms``, ``tokens_in``, ``mean_tokens_out``, ``why_not``, ``copied_example``: decisions that
    parse but whose text is words of the prompt's instruction, ``sample``: the first answer, at most 200
    characters; ``local`` and ``baseline`` also ``examples``: the first :data:`EXAMPLES` answers beside their
    situations), ``stats`` (the client's counters, warm-ups included), ``schema_form``; ``local`` and
    ``baseline`` also ``setup`` and ``prompt_cache`` (``on``, ``hit_rate``: :data:`HIT_RATE_MEANS`,
    ``reused_tokens``, ``prompt_tokens``, ``prompts_reusing``, ``restored_from_cache``); ``local`` and ``fake``
    also ``plain`` and ``interview`` (the same figures); then ``hit_rate_means``, ``speedup`` (the local model's
    ``valid_per_second`` over the baseline's), ``targets`` (``parse_share``, ``valid_per_second``, ``load``),
    ``target_met`` (the local model's parse share and valid decisions a second reach theirs), ``load_within_target``
    (the 1-minute load at the start and the end at most ``targets.load``), ``servers_rss_mb`` (each server's
    memory at the end), ``peak_rss_mb`` (this process) and ``total_s``.

    Raises:
        ValueError: fewer than one decision or interview asked for.
        BadParameterError, BadFileError, ResourceError: as :meth:`sim.llm.local.LocalPool.start`.
    """
    if decisions < 1 or interviews < 1:
        raise ValueError("decisions and interviews must be at least 1")
    t0 = time.perf_counter()
    plain = min(decisions, PLAIN)
    total = 3 * decisions + 2 * (plain + interviews) + 3
    done = 0

    def step(what: str, n: int = 1) -> None:
        nonlocal done
        done += n
        if progress:
            progress(what, min(1.0, done / total))

    r: dict[str, Any] = {
        "benchmark": "llm-local",
        "decisions": decisions,
        "plain": plain,
        "interviews": interviews,
        "agents": AGENTS,
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
    }
    pools = {
        "local": local.LocalPool(model, slots=slots, prompt_cache=prompt_cache, verbose=True),
        "baseline": local.LocalPool(model, slots=1, prompt_cache=False, stock=True, verbose=True),
    }
    procs: list[subprocess.Popen[bytes]] = []
    with pools["local"], pools["baseline"], PeakRSS(interval=0.2) as pk:
        assert pools["local"].model is not None
        r["model"] = {"name": pools["local"].model_name, "bytes": pools["local"].model.stat().st_size}
        served = pools["local"].servers[0].served_file or pools["local"].model
        r["served_file"] = {"name": served.name, "bytes": served.stat().st_size}
        r["threads"], r["slots"] = pools["local"].threads, pools["local"].slots
        r["startup_s"] = round(pools["local"].startup_seconds or 0.0, 3)
        step("local servers started")
        p = bench_prompts(decisions + slots, seed)
        try:
            procs, urls = _start_servers(1, 0.0)
            step("fake server started")
            sizes = {"decisions": decisions, "plain": plain, "interviews": interviews}
            r.update(asyncio.run(_run(pools, urls[0], p, sizes, step)))
        finally:
            _stop_servers(procs)
        r["servers_rss_mb"] = _servers_rss_mb(pools)
    _say_setups(r, slots, prompt_cache)
    return _conclude(r, pk.peak, t0, progress)


def _say_setups(r: dict[str, Any], slots: int, prompt_cache: bool) -> None:
    """Each setup's ``setup``: how its model was served."""
    r["local"]["setup"] = {
        "slots": slots,
        "prompt_cache": prompt_cache,
        "prompt_order": "shared parts first",
        "all_logits": False,
        "lazy_grammar": True,
        "served_file": r["served_file"]["name"],
    }
    r["baseline"]["setup"] = {
        "slots": 1,
        "prompt_cache": False,
        "prompt_order": "persona first (before issue 76)",
        "all_logits": True,
        "lazy_grammar": False,
        "served_file": r["model"]["name"] + ".gguf",
    }


def _conclude(r: dict[str, Any], peak: int, t0: float, progress: Callable[[str, float], None] | None) -> dict[str, Any]:
    """The report's last keys: the speed-up, the targets and whether they are met, memory and time."""
    r["load_average"]["end"] = [round(x, 2) for x in os.getloadavg()]
    r["hit_rate_means"] = HIT_RATE_MEANS
    ours, base = r["local"]["schema"], r["baseline"]["schema"]
    r["speedup"] = round(ours["valid_per_second"] / base["valid_per_second"], 2) if base["valid_per_second"] else None
    r["targets"] = {"parse_share": TARGET_PARSE_SHARE, "valid_per_second": TARGET_VALID_PER_SECOND, "load": TARGET_LOAD}
    r["target_met"] = bool(
        ours["parse_share"] >= TARGET_PARSE_SHARE and ours["valid_per_second"] >= TARGET_VALID_PER_SECOND
    )
    r["load_within_target"] = bool(max(r["load_average"]["start"][0], r["load_average"]["end"][0]) <= TARGET_LOAD)
    r["peak_rss_mb"] = mb(peak)
    r["total_s"] = round(time.perf_counter() - t0, 2)
    if progress:
        progress("done", 1.0)
    return r


def local_lines(r: dict[str, Any]) -> list[str]:
    """The text lines of :func:`bench_llm_local`'s figures."""
    lines = [
        f"model {r['model']['name']} ({r['model']['bytes'] / 1e6:.0f} MB), {r['slots']} slot(s) of {r['threads']} "
        f"thread(s), started in {r['startup_s']:.1f} s; load average {r['load_average']['start'][0]} -> "
        f"{r['load_average']['end'][0]}",
    ]
    for server, ways in (("local", ("schema", "plain")), ("baseline", ("schema",)), ("fake", ("schema", "plain"))):
        for way in ways:
            f = r[server][way]
            lines.append(
                f"{server:<8} {way:<6} {f['valid_per_second']:>7.2f} valid/s  p50 {f['p50_ms']:>8.0f} ms  "
                f"p95 {f['p95_ms']:>8.0f} ms  parse {100 * f['parse_share']:5.1f}% ({f['parsed']}/{f['count']}; "
                f"{f['copied_example']} copy the instruction)"
            )
        if "prompt_cache" in r[server]:
            c = r[server]["prompt_cache"]
            lines.append(
                f"{server:<8} prompt tokens reused {100 * c['hit_rate']:5.1f}% ({c['reused_tokens']:,} of "
                f"{c['prompt_tokens']:,}; prompt cache {'on' if c['on'] else 'off'}, {c['restored_from_cache']} "
                f"restored from it)"
            )
        if "interview" in r[server]:
            f = r[server]["interview"]
            lines.append(
                f"{server:<8} interview              p50 {f['p50_ms']:>8.0f} ms  p95 {f['p95_ms']:>8.0f} ms  "
                f"parse {100 * f['parse_share']:5.1f}% ({f['parsed']}/{f['count']})"
            )
    lines.append(
        f"speed-up over the baseline: x{r['speedup']}; target: {r['targets']['valid_per_second']:g} valid decision/s "
        f"and {100 * r['targets']['parse_share']:.0f}% parse with the schema: {r['target_met']} (load within "
        f"{r['targets']['load']:g}: {r['load_within_target']})"
    )
    return lines
