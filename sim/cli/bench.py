"""``agora bench``: the benchmarks of the engine, the world file, the living network, the commands, the
models, the analysis, the HTTP API, the LLM client and agent memory (``bench tui`` is the terminal UI's,
registered through the ``agora.commands`` entry points)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from sim.bench import llm_local
from sim.bench.analysis import bench_analysis
from sim.bench.api import bench_api, bench_injections
from sim.bench.backtest import backtest_lines, bench_backtest
from sim.bench.cascade import CascadeBench, bench_cascade
from sim.bench.commands import CommandsBench, bench_commands
from sim.bench.engine import PropagationBench, SeriesBench, WorldBench, bench_propagation, bench_series, bench_world
from sim.bench.ensembles import bench_ensembles
from sim.bench.fit import bench_fit, fit_lines
from sim.bench.fit_changes import bench_changes, changes_lines
from sim.bench.forecast import bench_forecast, forecast_lines
from sim.bench.llm import bench_llm
from sim.bench.llm_local import bench_llm_local
from sim.bench.measure import BenchWorld
from sim.bench.memory import bench_memory
from sim.bench.models import ModelsBench, bench_models
from sim.bench.populations import bench_populations, populations_lines
from sim.bench.seeds import SeedsBench, bench_seeds
from sim.bench.smallworld import bench_small_world, small_world_lines
from sim.bench.social import SocialBench, bench_social
from sim.cli.output import emit
from sim.cli.progress import stderr_progress
from sim.errors import BadParameterError
from sim.llm import local

#: A benchmark's settings (:func:`_settings`).
B = TypeVar("B", bound=BenchWorld)


def handle(args: argparse.Namespace) -> int:
    """Run the benchmark ``args.bench`` names and print its figures (``--json``: the report; else its lines);
    returns the exit code."""
    result, lines = _BENCHMARKS[args.bench](args)
    emit(args, result, "\n".join(lines))
    return 0


def _with_progress(bench: Callable[..., dict[str, Any]], *args: Any, **options: Any) -> dict[str, Any]:
    """``bench(*args, **options)``'s figures, its progress shown on stderr."""
    with stderr_progress() as progress:
        return bench(*args, progress=progress, **options)


def _settings(kind: type[B], args: argparse.Namespace, **fields: Any) -> B:
    """A benchmark's settings: the synthetic world of ``--agents`` agents and ``--avg-degree`` neighbours,
    seeded by ``--seed``, and ``fields``."""
    return kind(args.agents, args.avg_degree, args.seed, **fields)


def _flags(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The benchmark's keywords that are named as its flags: ``--runs`` is ``runs=``."""
    return {name: getattr(args, name) for name in names}


#: What a benchmark of this module gives ``handle``: its report and the lines that say it in text.
Figures = tuple[dict[str, Any], list[str]]


def _bench_api(args: argparse.Namespace) -> Figures:
    if args.clients < 0 or args.clients > 1000:
        raise BadParameterError(f"--clients {args.clients} is out of range: give 0 (no injections) to 1,000")
    if not 0.5 <= args.seconds <= 600:
        raise BadParameterError(f"--seconds {args.seconds} is out of range: give 0.5 to 600")
    result = bench_api(args.agents, requests=args.requests)
    lines = [
        f"{k:<28}median {v['ms_median']:>8.3f} ms  p90 {v['ms_p90']:>8.3f} ms  {v['requests_per_second']} requests/s"
        for k, v in result.items()
        if isinstance(v, dict)
    ]
    lines.append(f"keep-alive under {result['target_ms']} ms: {result['agora_keepalive_within_target']}")
    if args.clients:
        inj = bench_injections(args.agents, clients=args.clients, seconds=args.seconds, rounds=args.rounds)
        result["injections"] = inj
        lines.append(f"injections from {inj['clients']} clients ({inj['rounds']} rounds, median round):")
        lines += [
            f"  {k:<26}{v['per_second']:>9,.0f} /s  median {v['ms_median']:>7.2f} ms  p95 {v['ms_p95']:>7.2f} ms"
            for k, v in inj.items()
            if isinstance(v, dict) and "per_second" in v
        ]
        lines.append(
            f"durable at {inj['target_per_second']:,.0f}/s or more: {inj['durable_within_target']}; "
            f"durability adds {inj['durability_adds_ms']['median']} ms (median), "
            f"{inj['durability_adds_ms']['p95']} ms (p95)"
        )
    return result, lines


def _bench_social(args: argparse.Namespace) -> Figures:
    bench = _settings(SocialBench, args, online=args.online, k=args.k, ticks=args.ticks, messages=args.messages)
    result = _with_progress(bench_social, **asdict(bench))  # bench_social takes SocialBench's fields
    lines = [
        f"{kind} {name:<24} median {r['ms_median']:>8.1f} ms  max {r['ms_max']:>8.1f} ms  target "
        f"{r['target_ms']:.0f} ms"
        for kind in ("content", "friends")
        for name, r in result[kind].items()
    ]
    lines += [
        f"merge {result['merge']['ms']:.0f} ms every {result['merge']['merge_every']} ticks",
        f"peak RSS {result['peak_rss_mb']:.0f} MB",
        f"all within targets: {result['all_within_targets']}",
    ]
    return result, lines


def _bench_commands(args: argparse.Namespace) -> Figures:
    bench = _settings(
        CommandsBench,
        args,
        repeats=args.repeats,
        folder=args.dir,
        analysis=not args.no_analysis,
        encrypted=args.encrypted,
    )
    result = _with_progress(bench_commands, bench)
    lines = [
        f"{k:<10}{v['seconds_median']:>9.2f} s  (target {v['target_seconds']} s; yardstick "
        f"{v['yardstick']['seconds_median']:.2f} s, "
        f"ratio {v['ratio_to_yardstick']}); peak RSS {v['peak_rss_mb_max']:.0f} MB"
        for k, v in result["commands"].items()
    ]
    lines.append(f"all within targets: {result['all_within_targets']}")
    enc = result.get("encryption")
    if enc:
        lines += [
            f"encrypted {op:<6}{v['encrypted_seconds_median']:>9.2f} s  clear {v['clear_seconds_median']:.2f} s  "
            f"ratio {v['ratio']} (target {v['target_ratio']})"
            for op, v in enc.items()
            if isinstance(v, dict)
        ]
        lines.append(f"encryption within target: {enc['all_within_target']}")
    return result, lines


def _bench_models(args: argparse.Namespace) -> Figures:
    models = tuple(args.model) or None
    bench = _settings(ModelsBench, args, ticks=args.ticks, ndlib_agents=args.ndlib_agents, models=models)
    result = _with_progress(bench_models, bench)
    lines = []
    for name, m in result["models"].items():
        tick = (
            f"{m['tick_ms_median']:>8.1f} ms a tick (max {m['tick_ms_max']:.1f})"
            if m.get("tick_ms_median") is not None
            else f"no tick timed ({m.get('status')}{': ' + m['error'] if m.get('error') else ''})"
        )
        nd = m.get("ndlib") or {}
        vs = (
            f"  {nd['speedup']:,.3g}x NDlib's agent updates/s"
            if nd.get("speedup") is not None
            else ""
            if not nd
            else f"  NDlib: {nd.get('reason', 'n/a')}"
        )
        lines.append(f"{name:<22} {tick}{vs}")
    lines += [
        f"peak RSS {result['peak_rss_mb']:.0f} MB",
        f"every model's median tick within {result['target_tick_ms']:.0f} ms: {result['all_within_target']}",
    ]
    return result, lines


def _bench_cascade(args: argparse.Namespace) -> Figures:
    result = _with_progress(bench_cascade, _settings(CascadeBench, args, p=args.p, repeats=args.repeats))
    c = result["cascade"] or {}
    return result, [
        f"ic p={result['p']:g} on {result['agents']:,} agents / {result['edges']:,} edges: reached "
        f"{result['reached']:,} ({100 * result['reached_share']:.1f}%) in {result['ticks']} ticks",
        f"cascade: depth {c.get('depth')}, max breadth {c.get('max_breadth'):,}, "
        f"structural virality {c.get('structural_virality', 0):.2f}",
        f"run {1000 * result['seconds_median']:.1f} ms with the forest, "
        f"{1000 * result['baseline_seconds_median']:.1f} ms without (difference {100 * result['overhead']:+.2f}%)",
        f"forest cost inside the run: {1000 * result['rounds_forest_seconds_median']:.1f} ms in rounds + "
        f"{1000 * result['measures_seconds_median']:.1f} ms measuring = {100 * result['cost_share']:.2f}% "
        "of the run without it",
        f"peak RSS {result['peak_rss_mb']:.0f} MB; within the 10% target: {result['within_target']}",
    ]


def _bench_seeds(args: argparse.Namespace) -> Figures:
    bench = _settings(SeedsBench, args, p=args.p, k=args.k, epsilon=args.epsilon, repeats=args.repeats, runs=args.runs)
    result = _with_progress(bench_seeds, bench)
    return result, [
        f"ris k={result['k']} for ic p={result['p']:g} (epsilon {result['epsilon']:g}) on {result['agents']:,} "
        f"agents / {result['edges']:,} edges: {result['ris_seconds']:.2f} s median "
        f"({', '.join(f'{x:.2f}' for x in result['ris_seconds_all'])}), {result['ris_samples']:,} RR sets, "
        f"peak {result['ris_peak_mb']:.0f} MB (tracemalloc)",
        f"degree: {1000 * result['baseline_seconds']:.1f} ms median (ratio {result['ratio']}); one ic run: "
        f"{1000 * result['ic_run_seconds']:.1f} ms median (ratio {result['ratio_to_ic_run']})",
        f"reached in {result['runs']} ic runs each (mean ± s.e.): ris seeds {result['reached_mean']['ris']:,.1f} "
        f"± {result['reached_sem']['ris']}, degree seeds {result['reached_mean']['degree']:,.1f} "
        f"± {result['reached_sem']['degree']}; ris's own estimate {result['ris_estimate']:,.1f}",
        f"peak RSS {result['peak_rss_mb']:.0f} MB (the world included); within "
        f"{result['targets']['seconds']:.0f} s: {result['met']['seconds']}, within {result['targets']['mb']:.0f} "
        f"MB: {result['met']['mb']}",
    ]


def _bench_series(args: argparse.Namespace) -> Figures:
    result = _with_progress(bench_series, _settings(SeriesBench, args, repeats=args.repeats))
    lines = [
        f"{name:<6} {m['ticks']} ticks, reached {m['reached']:,}: recording "
        f"{100 * m['recording_share_median']:.2f}% "
        f"of the session's time; {1000 * m['seconds_median']:.1f} ms recorded, "
        f"{1000 * m['baseline_seconds_median']:.1f} ms not (difference {100 * m['overhead']:+.2f}%)"
        for name, m in result["models"].items()
    ]
    lines += [f"peak RSS {result['peak_rss_mb']:.0f} MB", f"within the 5% target: {result['within_target']}"]
    return result, lines


def _bench_propagation(args: argparse.Namespace) -> Figures:
    result = bench_propagation(_settings(PropagationBench, args, p=args.p, ndlib_agents=args.ndlib_agents))
    if args.yardstick_sizes or args.small_runs:
        result["yardsticks"] = bench_ensembles(
            args.yardstick_sizes,
            avg_degree=args.avg_degree,
            runs=args.yardstick_runs,
            seed=args.seed,
            small_runs=args.small_runs,
        )
    return result, _figure_lines(result)


def _bench_ensembles(args: argparse.Namespace) -> Figures:
    if args.runs > 100_000:
        raise BadParameterError(f"--runs {args.runs:,} is out of range: give 1 to 100,000")
    if args.repeats > 50:
        raise BadParameterError(f"--repeats {args.repeats} is out of range: give 1 to 50")
    result = _with_progress(bench_small_world, runs=args.runs, p=args.p, repeats=args.repeats)
    return result, small_world_lines(result)


def _bench_fit(args: argparse.Namespace) -> Figures:
    if args.changes:
        changed = _with_progress(
            bench_changes, args.budget, **_flags(args, "model", "workers", "repeats", "seed", "data")
        )
        return changed, changes_lines(changed)
    result = _with_progress(bench_fit, args.budget, **_flags(args, "model", "workers", "runs", "seed", "data"))
    return result, fit_lines(result)


def _bench_backtest(args: argparse.Namespace) -> Figures:
    result = _with_progress(bench_backtest, args.budget, **_flags(args, "cuts", "agents", "workers", "repeats", "seed"))
    return result, backtest_lines(result)


def _bench_forecast(args: argparse.Namespace) -> Figures:
    result = _with_progress(bench_forecast, args.agents, **_flags(args, "runs", "p", "repeats", "workers", "seed"))
    return result, forecast_lines(result)


def _bench_populations(args: argparse.Namespace) -> Figures:
    result = _with_progress(bench_populations, **_flags(args, "people", "repeats", "ticks", "seed"))
    return result, populations_lines(result)


def _bench_world(args: argparse.Namespace) -> Figures:
    bench = _settings(WorldBench, args, folder=args.dir, analyse=not args.no_analysis, run_ticks=max(0, args.run_ticks))
    result = _with_progress(bench_world, bench)
    return result, _figure_lines(result)


def _figure_lines(result: dict[str, Any]) -> list[str]:
    """A benchmark's figures one a line (its yardsticks as a table)."""
    lines = [f"{k:<28}{v}" for k, v in result.items() if not isinstance(v, dict)]
    if "yardsticks" in result:
        lines.append(yardstick_lines(result["yardsticks"]))
    return lines


def yardstick_lines(y: dict[str, Any]) -> str:
    """The yardsticks as a table: per size and model, the mean ms per cascade for Agora (one core, all
    cores), CyNetDiff and the numpy kernel, over the ensembles' runs."""
    rows = ["size       model  runs  agora 1 core  agora all  cynetdiff  numpy kernel  (mean ms per cascade)"]
    for size, r in y["sizes"].items():
        for model in ("ic", "lt", "sir"):
            m = r[model]
            cy = m["cynetdiff"]["ms_per_cascade"] if m["cynetdiff"].get("available") else None
            rows.append(
                f"{int(size):>9,}  {model:<5} {m.get('runs', r.get('runs', 0)):>4} "
                f"{m['agora_one_core_ms']:>10.3f}ms {m['agora_all_cores_ms']:>8.3f}ms "
                f"{'-' if cy is None else f'{cy:.3f}ms':>10} {m['numpy_kernel_ms']:>11.3f}ms"
            )
    sw = y["small_world"]
    if sw.get("available"):
        rows.append(
            f"ego-Facebook: agora run --runs {sw['runs']} took {sw['agora_seconds']:.2f} s from start to exit; a "
            f"CyNetDiff script doing the whole job {sw['cynetdiff_script_seconds']:.2f} s (ratio {sw['ratio']:.2f})"
        )
    rows.append("verdict: " + ", ".join(f"{k}={v}" for k, v in y["verdict"].items()))
    return "\n".join(rows)


def _bench_memory(args: argparse.Namespace) -> Figures:
    r = _with_progress(
        bench_memory,
        agents=args.agents,
        ticks=args.ticks,
        llm_agents=args.llm_agents,
        rule_agents=args.rule_agents,
        latency=args.latency,
    )
    on, off = r["llm"]["with_memory"], r["llm"]["baseline_off"]
    rec, rule = r["recall"], r["rule_runs"]
    return r, [
        f"LLM agents remembering   {on['agents_remembering']:,}; {on['events']:,} events "
        f"(mean {on['events_per_agent']['mean']} per agent, max {on['events_per_agent']['max']}); {on['summaries']:,} "
        "summaries",
        f"memory per LLM agent     {on['bytes_per_agent'] / 1e3:.1f} kB ({on['memory_bytes'] / 1e6:.2f} MB in all)",
        f"prompt tokens            p50 {on['prompt_tokens']['p50']:.0f}  p90 {on['prompt_tokens']['p90']:.0f}  "
        f"max {on['prompt_tokens']['max']:.0f}  (memory part p50 {on['memory_tokens']['p50']:.0f}, max "
        f"{on['memory_tokens']['max']:.0f})",
        f"  baseline memory=off    p50 {off['prompt_tokens']['p50']:.0f}  p90 {off['prompt_tokens']['p90']:.0f}  "
        f"max {off['prompt_tokens']['max']:.0f}",
        f"tick median              {on['tick_ms_median']:.1f} ms with memory ({on['requests']:,} requests), "
        f"{off['tick_ms_median']:.1f} ms without ({off['requests']:,} requests)",
        f"memory work per tick     {on['memory_ms_per_tick_median']:.1f} ms CPU median, "
        f"{on['memory_ms_per_tick_max']:.1f} ms max",
        f"memory part of a prompt  {rec.get('memory_part_us_median', 0):.0f} µs median "
        f"(plain indexed read {rec.get('plain_select_us_median', 0):.0f} µs)",
        f"recall, {r['recall_scaling']['events']:,} events  common words "
        f"{r['recall_scaling']['common_words']['ms_median']:.2f} ms "
        f"(plain-word index {r['recall_scaling']['common_words']['baseline_plain_words_ms_median']:.2f} ms), rare "
        "words "
        f"{r['recall_scaling']['rare_words']['ms_median']:.2f} ms "
        f"({r['recall_scaling']['rare_words']['baseline_plain_words_ms_median']:.2f} ms)",
        f"rule run, {rule['agents']:,} agents  {rule['default']['tick_ms_median']:.1f} ms/tick default, "
        f"{rule['baseline_off']['tick_ms_median']:.1f} ms memory=off (ratio {rule['ratio']}); memory made: "
        f"{rule['default']['memory_made']}",
    ]


def _bench_analysis(args: argparse.Namespace) -> Figures:
    result = bench_analysis(
        args.agents, avg_degree=args.avg_degree, seed=args.seed, baseline_agents=args.baseline_agents
    )
    lines = [f"{k:<36}{v}" for k, v in result.items() if not isinstance(v, dict)]
    for k, v in result.items():
        if isinstance(v, dict):
            lines += [f"{k}:", *(f"  {kk:<34}{vv}" for kk, vv in v.items())]
    return result, lines


def _bench_llm(args: argparse.Namespace) -> Figures:
    if args.scorecard:
        for flag, value in (("--slots", args.slots), ("--prompt-cache", args.prompt_cache)):
            if value is not None:
                raise BadParameterError(f"{flag} is for the local model's throughput, not the scorecard: drop one")
        return _bench_llm_scorecard(args)
    for flag, value in (("--agents", args.agents), ("--replicates", args.replicates)):
        if value is not None:
            raise BadParameterError(f"{flag} is for the scorecard: add --scorecard")
    if args.local:
        return _bench_llm_local(args)
    for flag, value in (
        ("--decisions", args.decisions),
        ("--interviews", args.interviews),
        ("--slots", args.slots),
        ("--prompt-cache", args.prompt_cache),
    ):
        if value is not None:
            raise BadParameterError(f"{flag} is for the local model: add --local")
    if args.llm_model is not None:
        raise BadParameterError("--llm-model is for the local model: add --local")
    result = _with_progress(
        bench_llm, requests=args.requests, concurrency=args.concurrency, latency=args.latency, servers=args.servers
    )
    base, ours = result["baseline"], result["agora"]
    return result, [
        f"ideal                 {result['ideal_per_second']:,.0f} completions/s ({args.concurrency} in flight, "
        f"{args.latency * 1000:g} ms each)",
        f"plain HTTP client     {base['per_second']:,.0f} /s   cpu {base['cpu_ms_per_call']:.2f} ms/call",
        f"agora client          {ours['per_second']:,.0f} /s   cpu {ours['cpu_ms_per_call']:.2f} ms/call",
        f"ratio to baseline     {result['ratio_to_baseline']:.2f}",
        f"target {result['target_per_second']}/s met: {result['target_met']}",
    ]


def _bench_llm_scorecard(args: argparse.Namespace) -> Figures:
    """``agora bench llm --scorecard [--local]``: the fidelity scorecard on a generated world."""
    from sim.bench.llm_scorecard import bench_scorecard  # noqa: PLC0415 - the engine, only for the scorecard
    from sim.cli.llmcheap import scorecard_text  # noqa: PLC0415

    if args.local:
        local.check_request(local.LocalRequest(args.llm_model))
    elif args.llm_model is not None:
        raise BadParameterError("--llm-model is for the local model: add --local")
    result = _with_progress(
        bench_scorecard,
        use_local=args.local,
        agents=args.agents,
        replicates=args.replicates,
        archetypes=args.archetypes,
        model=args.llm_model,
    )
    return result, [*scorecard_text(result).splitlines(), f"{result['total_s']:.1f} s, {result['peak_rss_mb']:.0f} MB"]


def _bench_llm_local(args: argparse.Namespace) -> Figures:
    """``agora bench llm --local``: a missing extra, a bad model file or too many slots is one sentence before
    anything runs."""
    if args.slots is not None and args.slots > local.MAX_SLOTS:
        raise BadParameterError(f"--slots must be at most {local.MAX_SLOTS}, not {args.slots}")
    local.check_request(local.LocalRequest(args.llm_model))
    result = _with_progress(
        bench_llm_local,
        decisions=args.decisions or llm_local.DECISIONS,
        interviews=args.interviews or llm_local.INTERVIEWS,
        model=args.llm_model,
        slots=args.slots or local.SLOTS,
        prompt_cache=local.PROMPT_CACHE if args.prompt_cache is None else args.prompt_cache == "on",
    )
    return result, llm_local.local_lines(result)


#: Each ``agora bench`` benchmark of this module and the function that runs it.
_BENCHMARKS: dict[str, Callable[[argparse.Namespace], Figures]] = {
    "llm": _bench_llm,
    "memory": _bench_memory,
    "api": _bench_api,
    "analysis": _bench_analysis,
    "social": _bench_social,
    "commands": _bench_commands,
    "models": _bench_models,
    "cascade": _bench_cascade,
    "seeds": _bench_seeds,
    "series": _bench_series,
    "ensembles": _bench_ensembles,
    "fit": _bench_fit,
    "backtest": _bench_backtest,
    "forecast": _bench_forecast,
    "populations": _bench_populations,
    "propagation": _bench_propagation,
    "world": _bench_world,
}
