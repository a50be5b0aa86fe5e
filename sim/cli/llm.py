"""``agora interview``, ``agora llm`` and ``agora bench llm``: LLM agents from the command line.

The API key comes from ``OPENAI_API_KEY`` only and is never printed: ``--json`` says whether one is set.
The servers it is sent to come from ``OPENAI_BASE_URL`` or ``--llm base_urls=...`` only: a world never
stores them (``--set base_urls=...`` is refused) and one that names them has them ignored, with a warning.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sim.core.audit import TEXT_LIMIT
from sim.errors import BadParameterError


def add_llm_arguments(p: argparse.ArgumentParser) -> None:
    """``--llm KEY=VALUE`` and ``--offline``, shared by run, interview and llm."""
    g = p.add_argument_group("LLM", "LLM agents (see 'agora llm --help'). The key comes from OPENAI_API_KEY only, the "
                             "servers from OPENAI_BASE_URL (several, comma-separated) or --llm base_urls=... only, never "
                             "from a world file; AGORA_LLM_MODEL overrides the world's model.")
    g.add_argument("--llm", action="append", default=[], metavar="KEY=VALUE",
                   help="an LLM setting for this command, e.g. model=gpt-4o-mini, base_urls=http://127.0.0.1:8000/v1, "
                   "calls_per_tick=50, concurrency=32 (repeatable; 'agora llm WORLD' lists them)")
    g.add_argument("--offline", action="store_true", help="use the offline generator even when a key is set")


def llm_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The LLM settings given on the command line, validated.

    Raises:
        BadParameterError: a bad KEY=VALUE or setting (named).
    """
    from sim.cli.main import _parse_params
    from sim.llm.config import llm_settings

    changes: dict[str, Any] = dict(_parse_params(getattr(args, "llm", []), "--llm", "calls_per_tick=50"))
    if getattr(args, "offline", False):
        changes["offline"] = True
    if changes:
        llm_settings({}, **changes)  # one clear sentence for a bad one, before anything runs
    return changes


#: LLM settings that budget a simulation's ticks: an interview, one request outside any tick, never uses them.
RUN_ONLY_SETTINGS = ("calls_per_tick", "texts_per_tick", "reply_share")

#: LLM settings a run uses with the offline generator too (how many adopters write, and replies or reposts).
OFFLINE_RUN_SETTINGS = ("texts_per_tick", "reply_share")

#: Settings of agent memory: they take effect offline too (the offline generator recalls and condenses).
MEMORY_SETTINGS = ("memory", "memory_window", "memory_recall", "memory_tokens", "memory_summary_every",
                   "memory_horizon", "memory_max_events")


def _given_llm(args: argparse.Namespace) -> dict[str, str]:
    """The ``--llm KEY=VALUE`` items given (raw, names stripped; empty when none)."""
    from sim.cli.main import _parse_params

    return _parse_params(getattr(args, "llm", []), "--llm", "calls_per_tick=50")


def refuse_unused_llm(args: argparse.Namespace, config: Any, *, command: str) -> None:
    """Refuse ``--llm`` settings that cannot take effect in ``command`` ("interview" or "run") under the
    resolved ``config``: run budgets in an interview, and settings of the client (model, servers, limits)
    when the offline generator answers anyway.

    Raises:
        BadParameterError: the first such setting, named, with what to do.
    """
    given = _given_llm(args)
    if command == "interview":
        for key in given:
            if key in RUN_ONLY_SETTINGS:
                raise BadParameterError(f"--llm {key} budgets a simulation's ticks and an interview has none: drop it "
                                        f"(or store it with 'agora llm WORLD --set {key}=...')")
    if config.mode != "offline":
        return
    for key, value in given.items():
        if ((key == "offline" and config.offline) or (command == "run" and key in OFFLINE_RUN_SETTINGS)
                or key in MEMORY_SETTINGS):
            continue  # it took effect
        when, fix = _why_offline(args, config)
        raise BadParameterError(f"--llm {key}={value} has no effect {when} (the offline generator answers): "
                                + (f"{fix}, or drop --llm {key}" if fix else f"drop --offline or --llm {key}"))


def _why_offline(args: argparse.Namespace, config: Any) -> tuple[str, str | None]:
    """Why ``config`` is offline and what would change it: ``(when, fix)``, parts of one sentence; ``fix``
    is None when --offline (or --llm offline=true) was given on this command line."""
    from sim.llm.config import LLM_PARAMS

    asked = _given_llm(args).get("offline")
    if getattr(args, "offline", False) or (asked is not None and LLM_PARAMS["offline"].coerce("offline", asked)):
        return "under --offline", None
    if config.offline:
        return ("while offline is forced by the world's settings or AGORA_LLM_OFFLINE",
                "add --llm offline=false (or run 'agora llm WORLD --set offline=false')")
    return "without OPENAI_API_KEY in the environment", "set it (any value for a keyless local server)"


def add_commands(sub: Any) -> None:
    from sim.cli.main import _int

    iv = sub.add_parser("interview", help="ask an agent a question; it answers in its persona",
                        description="Ask one agent of a world a question. It answers in its persona, from its interests and "
                        "the messages it has seen and shared: through the LLM when OPENAI_API_KEY is set, from the world's "
                        "response cache for a question asked before, else from the offline generator. The answer's source "
                        "is printed (llm, cache or offline).")
    iv.add_argument("world", metavar="WORLD")
    iv.add_argument("agent", type=_int, metavar="AGENT", help="the agent's original id")
    iv.add_argument("question", metavar="QUESTION")
    add_llm_arguments(iv)
    iv.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    lm = sub.add_parser("llm", help="show or change a world's LLM settings",
                        description="Show a world's LLM settings, the configuration in effect (settings, then the environment, "
                        "then --llm), the response cache and the posts agents wrote; --set changes the world's settings "
                        "(validated, written to the world file). Servers are never stored in a world (a shared world could "
                        "send your API key elsewhere): set OPENAI_BASE_URL or pass --llm base_urls=... to each command. "
                        "--ping sends one request to every server.")
    lm.add_argument("world", metavar="WORLD")
    lm.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="change a setting of the world (repeatable; not base_urls: servers come from the environment or --llm)")
    lm.add_argument("--ping", action="store_true", help="send one short request to every configured server and report")
    add_llm_arguments(lm)
    lm.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_bench_command(bsub: Any) -> None:
    from sim.cli.main import _non_negative_float, _positive_int

    bl = bsub.add_parser("llm", help="LLM client throughput against a local chat-completions server",
                         description="LLM benchmark: completions per second through Agora's client (limits, retries, breaker) "
                         "against local servers answering after a fixed latency, beside a plain HTTP client measured in the "
                         "same run, with the client's own CPU time per call.")
    bl.add_argument("--requests", type=_positive_int, default=2000, metavar="N", help="completions per measurement (default 2000)")
    bl.add_argument("--concurrency", type=_positive_int, default=64, metavar="C", help="requests in flight (default 64)")
    bl.add_argument("--latency", type=_non_negative_float, default=0.02, metavar="S", help="server latency in seconds (default 0.02)")
    bl.add_argument("--servers", type=_positive_int, default=1, metavar="K", help="local servers, balanced by load (default 1)")
    bl.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bm = bsub.add_parser("memory", help="agent memory: bytes per LLM agent, prompt sizes, recall time, rule runs unchanged",
                         description="Agent memory benchmark: LLM agents deciding through a local chat-completions server with "
                         "memory on, beside the same run with memory=off (memory bytes and events per agent, the distribution "
                         "of estimated prompt tokens); the time to build one agent's memory part beside a plain indexed read; "
                         "and a rule-based cascade with the default settings beside memory=off (nothing is made).")
    bm.add_argument("--agents", type=_positive_int, default=3000, metavar="N", help="agents of the LLM world (default 3000)")
    bm.add_argument("--ticks", type=_positive_int, default=40, metavar="T", help="ticks of each LLM run (default 40)")
    bm.add_argument("--llm-agents", type=_positive_int, default=20, metavar="K", help="agents asked per round and message (default 20)")
    bm.add_argument("--rule-agents", type=_positive_int, default=1_000_000, metavar="N", help="agents of the rule run (default 1,000,000)")
    bm.add_argument("--latency", type=_non_negative_float, default=0.005, metavar="S", help="server latency in seconds (default 0.005)")
    bm.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def handle(args: argparse.Namespace) -> Any:
    if args.command == "interview":
        return _interview(args)
    if args.command == "llm":
        return _llm(args)
    if getattr(args, "bench", None) == "memory":
        return _bench_memory(args)
    return _bench(args)


def _bench_memory(args: argparse.Namespace) -> int:
    from sim.bench.memory import bench_memory
    from sim.cli.main import _emit
    from sim.cli.progress import stderr_progress

    with stderr_progress() as progress:
        r = bench_memory(agents=args.agents, ticks=args.ticks, llm_agents=args.llm_agents, rule_agents=args.rule_agents,
                         latency=args.latency, progress=progress)
    on, off = r["llm"]["with_memory"], r["llm"]["baseline_off"]
    rec, rule = r["recall"], r["rule_runs"]
    lines = [
        f"LLM agents remembering   {on['agents_remembering']:,}; {on['events']:,} events "
        f"(mean {on['events_per_agent']['mean']} per agent, max {on['events_per_agent']['max']}); {on['summaries']:,} summaries",
        f"memory per LLM agent     {on['bytes_per_agent'] / 1e3:.1f} kB ({on['memory_bytes'] / 1e6:.2f} MB in all)",
        f"prompt tokens            p50 {on['prompt_tokens']['p50']:.0f}  p90 {on['prompt_tokens']['p90']:.0f}  "
        f"max {on['prompt_tokens']['max']:.0f}  (memory part p50 {on['memory_tokens']['p50']:.0f}, max {on['memory_tokens']['max']:.0f})",
        f"  baseline memory=off    p50 {off['prompt_tokens']['p50']:.0f}  p90 {off['prompt_tokens']['p90']:.0f}  "
        f"max {off['prompt_tokens']['max']:.0f}",
        f"tick median              {on['tick_ms_median']:.1f} ms with memory ({on['requests']:,} requests), "
        f"{off['tick_ms_median']:.1f} ms without ({off['requests']:,} requests)",
        f"memory work per tick     {on['memory_ms_per_tick_median']:.1f} ms CPU median, {on['memory_ms_per_tick_max']:.1f} ms max",
        f"memory part of a prompt  {rec.get('memory_part_us_median', 0):.0f} µs median "
        f"(plain indexed read {rec.get('plain_select_us_median', 0):.0f} µs)",
        f"recall, {r['recall_scaling']['events']:,} events  common words {r['recall_scaling']['common_words']['ms_median']:.2f} ms "
        f"(plain-word index {r['recall_scaling']['common_words']['baseline_plain_words_ms_median']:.2f} ms), rare words "
        f"{r['recall_scaling']['rare_words']['ms_median']:.2f} ms ({r['recall_scaling']['rare_words']['baseline_plain_words_ms_median']:.2f} ms)",
        f"rule run, {rule['agents']:,} agents  {rule['default']['tick_ms_median']:.1f} ms/tick default, "
        f"{rule['baseline_off']['tick_ms_median']:.1f} ms memory=off (ratio {rule['ratio']}); memory made: {rule['default']['memory_made']}",
    ]
    _emit(args, r, "\n".join(lines))
    return 0


async def _interview(args: argparse.Namespace) -> int:
    from sim.cli.main import _emit
    from sim.llm.config import LLMConfig
    from sim.llm.service import LLMService, llm_report
    from sim.store.worldfile import open_world

    question = str(args.question)
    if not question.strip():
        raise BadParameterError("the question is empty: write one, e.g. agora interview WORLD 42 \"What do you think of AI?\"")
    overrides = llm_overrides(args)
    world = await open_world(args.world)
    i = world.index_of(args.agent)
    config = LLMConfig.resolve(world.config.get("llm"), overrides)
    refuse_unused_llm(args, config, command="interview")
    service = LLMService(world, config)
    try:
        answer = await service.interview(i, question)
    finally:
        await service.aclose()
    await _store_cache(world, {"agent": int(args.agent), "question": question[:TEXT_LIMIT], "source": answer.source})
    persona = world.persona(i)
    data = {
        "world": os.path.abspath(args.world), "agent": int(args.agent), "name": persona.name, "question": question,
        "answer": answer.text, "source": answer.source, "reason": answer.reason, "mode": service.config.mode,
        "model": service.config.model, "tokens_in": answer.tokens_in, "tokens_out": answer.tokens_out,
        "seconds": round(answer.seconds, 3), "llm": llm_report(service.stats()),
    }
    note = f"({answer.source}" + (f": {answer.reason}" if answer.reason else "") + ")"
    _emit(args, data, f"{persona.name}: {answer.text}\n{note}")
    return 0


async def _store_cache(world: Any, audit: dict[str, Any] | None = None) -> None:
    """Write the new cache rows of ``world`` to its file (an interview's answer is reused next time), and
    the interview to its audit log."""
    if world.path is None:
        return
    from sim.store.writer import WorldWriter

    writer = await WorldWriter(world.path).start()
    try:
        if audit is not None:
            writer.submit_audit("interview", audit)
        await writer.checkpoint(world, [])
    finally:
        await writer.close()


async def _llm(args: argparse.Namespace) -> int:
    from sim.core.audit import public_settings
    from sim.cli.main import _emit, _parse_params
    from sim.llm.config import ENDPOINT_SETTINGS, LLMConfig, llm_settings, refuse_endpoint_settings
    from sim.llm.service import LLMService
    from sim.store.worldfile import open_world
    from sim.store.writer import WorldWriter

    changes = _parse_params(args.set, "--set", "calls_per_tick=50")
    refuse_endpoint_settings(changes)  # before the world is even opened: nothing is written
    overrides = llm_overrides(args)
    world = await open_world(args.world)
    # What the world stores: never its servers (a file cannot name them; see sim.llm.config).
    stored = {k: v for k, v in llm_settings(world.config.get("llm"), **changes).items() if k not in ENDPOINT_SETTINGS}
    cfg = LLMConfig.resolve(stored, overrides)
    if args.ping and cfg.mode == "offline":  # refused before --set writes anything
        when, fix = _why_offline(args, cfg)
        raise BadParameterError(f"--ping sends nothing {when}: {fix or 'drop --offline or --ping'}")
    if changes:
        world.config["llm"] = stored
        writer = await WorldWriter(args.world).start()
        try:
            writer.submit_audit("llm settings", public_settings(changes))
            await writer.checkpoint(world, [])
        finally:
            await writer.close()
    data: dict[str, Any] = {
        "world": os.path.abspath(args.world), "settings": stored, "effective": cfg.public(),
        "why_offline": cfg.why_offline, "cache_entries": len(world.llm_cache), "posts": len(world.posts),
        "changed": bool(changes), "memory": world.memory.stats(),
    }
    width = max(18, max(len(k) for k in stored) + 2)
    lines = [f"{k:<{width}}{v}" for k, v in stored.items()]
    lines.append(f"{'mode':<{width}}{cfg.mode}" + (f" ({cfg.why_offline})" if cfg.why_offline else "") +
                 f"; model {cfg.model}; servers {', '.join(cfg.base_urls) or 'the OpenAI API'}")
    lines.append(f"{'cache':<{width}}{len(world.llm_cache):,} answers; posts {len(world.posts):,}")
    ms = data["memory"]
    lines.append(f"{'memory':<{width}}{ms['agents']:,} agents remember {ms['events']:,} events, {ms['summaries']:,} summaries "
                 f"({ms['database_bytes'] / 1e6:.2f} MB" + (f", {ms['database_bytes'] / ms['agents'] / 1e3:.1f} kB per agent" if ms["agents"] else "")
                 + f"; {ms['column_bytes'] / 1e6:.2f} MB of columns over every agent)")
    if args.ping:
        service = LLMService(world, cfg)
        try:
            pings = await service.client.ping()
        finally:
            await service.aclose()
        data["ping"] = pings
        lines += [f"ping {p['url']}: {p['result']} in {p['ms']:.0f} ms" for p in pings]
    if changes:
        lines.append("settings saved")
    _emit(args, data, "\n".join(lines))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from sim.bench.llm import bench_llm
    from sim.cli.main import _emit
    from sim.cli.progress import stderr_progress

    with stderr_progress() as progress:
        result = bench_llm(requests=args.requests, concurrency=args.concurrency, latency=args.latency,
                           servers=args.servers, progress=progress)
    base, ours = result["baseline"], result["agora"]
    lines = [
        f"ideal                 {result['ideal_per_second']:,.0f} completions/s ({args.concurrency} in flight, {args.latency * 1000:g} ms each)",
        f"plain HTTP client     {base['per_second']:,.0f} /s   cpu {base['cpu_ms_per_call']:.2f} ms/call",
        f"agora client          {ours['per_second']:,.0f} /s   cpu {ours['cpu_ms_per_call']:.2f} ms/call",
        f"ratio to baseline     {result['ratio_to_baseline']:.2f}",
        f"target {result['target_per_second']}/s met: {result['target_met']}",
    ]
    _emit(args, result, "\n".join(lines))
    return 0
