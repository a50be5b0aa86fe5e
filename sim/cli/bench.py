"""``agora bench``: the benchmarks of the engine, the world file, the living network, the commands, the
models and the HTTP API (``bench analysis``, ``llm`` and ``memory`` are in their groups' modules; ``bench tui``
is the terminal UI's, registered through the ``agora.commands`` entry points)."""

from __future__ import annotations

import argparse

from sim.bench.api import bench_api
from sim.bench.commands import bench_commands
from sim.bench.engine import bench_propagation, bench_series, bench_world
from sim.bench.models import bench_models
from sim.bench.social import bench_social
from sim.cli.output import emit
from sim.cli.progress import stderr_progress


def handle(args: argparse.Namespace) -> int:
    """Run the benchmark ``args.bench`` names and print its figures; returns the exit code."""
    if args.bench == "api":
        result = bench_api(args.agents, requests=args.requests)
        lines = [f"{k:<28}median {v['ms_median']:>8.3f} ms  p90 {v['ms_p90']:>8.3f} ms  {v['requests_per_second']} requests/s"
                 for k, v in result.items() if isinstance(v, dict)]
        lines.append(f"keep-alive under {result['target_ms']} ms: {result['agora_keepalive_within_target']}")
        emit(args, result, "\n".join(lines))
        return 0
    if args.bench == "social":
        with stderr_progress() as progress:
            result = bench_social(args.agents, avg_degree=args.avg_degree, online=args.online, k=args.k, ticks=args.ticks,
                                  messages=args.messages, seed=args.seed, progress=progress)
        lines = [f"{kind} {name:<24} median {r['ms_median']:>8.1f} ms  max {r['ms_max']:>8.1f} ms  target {r['target_ms']:.0f} ms"
                 for kind in ("content", "friends") for name, r in result[kind].items()]
        lines += [f"merge {result['merge']['ms']:.0f} ms every {result['merge']['merge_every']} ticks",
                  f"peak RSS {result['peak_rss_mb']:.0f} MB", f"all within targets: {result['all_within_targets']}"]
        emit(args, result, "\n".join(lines))
        return 0
    if args.bench == "commands":
        with stderr_progress() as progress:
            result = bench_commands(args.agents, avg_degree=args.avg_degree, seed=args.seed, repeats=args.repeats,
                                    folder=args.dir, analysis=not args.no_analysis, progress=progress)
        lines = [f"{k:<10}{v['seconds_median']:>9.2f} s  (target {v['target_seconds']} s; yardstick {v['yardstick']['seconds_median']:.2f} s, "
                 f"ratio {v['ratio_to_yardstick']}); peak RSS {v['peak_rss_mb_max']:.0f} MB" for k, v in result["commands"].items()]
        emit(args, result, "\n".join(lines + [f"all within targets: {result['all_within_targets']}"]))
        return 0
    if args.bench == "models":
        with stderr_progress() as progress:
            result = bench_models(args.agents, avg_degree=args.avg_degree, seed=args.seed, ticks=args.ticks,
                                  ndlib_agents=args.ndlib_agents, models=args.model or None, progress=progress)
        lines = []
        for name, m in result["models"].items():
            tick = (f"{m['tick_ms_median']:>8.1f} ms a tick (max {m['tick_ms_max']:.1f})" if m.get("tick_ms_median") is not None
                    else f"no tick timed ({m.get('status')}{': ' + m['error'] if m.get('error') else ''})")
            nd = m.get("ndlib") or {}
            vs = (f"  {nd['speedup']:,.3g}x NDlib's agent updates/s" if nd.get("speedup") is not None
                  else "" if not nd else f"  NDlib: {nd.get('reason', 'n/a')}")
            lines.append(f"{name:<22} {tick}{vs}")
        lines += [f"peak RSS {result['peak_rss_mb']:.0f} MB",
                  f"every model's median tick within {result['target_tick_ms']:.0f} ms: {result['all_within_target']}"]
        emit(args, result, "\n".join(lines))
        return 0
    if args.bench == "series":
        with stderr_progress() as progress:
            result = bench_series(args.agents, avg_degree=args.avg_degree, seed=args.seed, repeats=args.repeats,
                                  progress=progress)
        lines = [f"{name:<6} {m['ticks']} ticks, reached {m['reached']:,}: recording {100 * m['recording_share_median']:.2f}% "
                 f"of the session's time; {1000 * m['seconds_median']:.1f} ms recorded, "
                 f"{1000 * m['baseline_seconds_median']:.1f} ms not (difference {100 * m['overhead']:+.2f}%)"
                 for name, m in result["models"].items()]
        lines += [f"peak RSS {result['peak_rss_mb']:.0f} MB", f"within the 5% target: {result['within_target']}"]
        emit(args, result, "\n".join(lines))
        return 0
    if args.bench == "propagation":
        result = bench_propagation(args.agents, avg_degree=args.avg_degree, p=args.p, seed=args.seed, ndlib_agents=args.ndlib_agents)
    else:
        with stderr_progress() as progress:
            result = bench_world(args.agents, avg_degree=args.avg_degree, seed=args.seed, folder=args.dir, progress=progress,
                                 analyse=not args.no_analysis, run_ticks=max(0, args.run_ticks))
    text = "\n".join(f"{k:<28}{v}" for k, v in result.items() if not isinstance(v, dict))
    emit(args, result, text)
    return 0
