"""``agora run``: a world headless, a persisted run or an ensemble of cascades (the engine is
:func:`sim.runs.runner.run_cascades`), with its ``--series`` file, ``--plot`` figure, ``--cascades`` file
(every run's adoption forest) and ``--ccdf`` file (the distribution of the runs' cascade sizes)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sim.analysis.plot import check_figure_path, plot_tables
from sim.cli.args import EXIT_FAILED, check_metrics_options, parse_params, social_changes
from sim.cli.llm import estimate_after_run, estimate_before_run, llm_overrides, online_run, refuse_unused_llm
from sim.cli.llmcheap import cheap_choice
from sim.cli.output import emit, indented, params_text, shown_line
from sim.cli.progress import stderr_progress
from sim.cli.textable import render_table
from sim.core.audit import public_settings
from sim.core.worldlock import world_lock
from sim.engine.observe import MetricsServer, Monitor
from sim.engine.requests import MAX_TICKS, Ensemble
from sim.errors import BadParameterError
from sim.lab.world import WorldFile
from sim.llm import local
from sim.model.registry import Registry, plugin_registry
from sim.runs.reports import EnsembleReport, SweepReport
from sim.runs.runner import check_social_params, run_cascades, series_records
from sim.social.dynamics import Social
from sim.store.cascadeio import check_cascades_path, check_ccdf_path, save_cascades
from sim.store.seriesio import check_series_path, save_series, table_from_records
from sim.store.worldfile import check_target, file_llm_settings, open_world, read_meta
from sim.store.writer import WorldWriter


def handle(args: argparse.Namespace) -> Any:
    """``agora run``: a coroutine that ``sim.cli.main`` runs; its result is the exit code."""
    return run_command(args)


async def run_command(args: argparse.Namespace) -> int:
    """Run ``agora run`` from its parsed arguments; returns the exit code (3 when a run failed).

    Raises:
        AgoraError: a user's mistake, before anything is written.
    """
    _check_run_options(args)
    check_metrics_options(args)
    params = parse_params(args.param)
    llm = llm_overrides(args)
    cheap_choice(args, params, llm, args.world)
    registry = plugin_registry(args.world, args.plugins)
    monitor = server = None
    if args.metrics_port is not None:  # bound before anything is opened: a busy port fails at once
        tps = args.ticks_per_second
        monitor = Monitor(stall_after=max(60.0, 3.0 / tps) if tps else 60.0)
        server = MetricsServer(monitor, args.metrics_host, args.metrics_port).start()
        sys.stderr.write(f"agora: metrics on {server.url}/metrics, health on {server.url}/healthz\n")
        sys.stderr.flush()
    try:
        request = ensemble_request(args, params, llm, registry)
        if args.runs is not None:
            return await _ensemble(args, request, monitor, registry)
        with world_lock(args.world, what="run it"):  # before the read: no other process writes in between
            return await _run(args, request, registry, monitor)
    finally:
        if server is not None:
            server.stop()


#: Options of ``agora run`` that describe the injected message or its runs: meaningless without --inject.
_INJECT_OPTIONS = (
    ("seeds", "--seeds"),
    ("model", "--model"),
    ("param", "--param"),
    ("topic", "--topic"),
    ("priority", "--priority"),
    ("runs", "--runs"),
    ("author", "--author"),
    ("seed", "--seed"),
    ("series", "--series"),
    ("plot", "--plot"),
    ("cascades", "--cascades"),
    ("ccdf", "--ccdf"),
    ("workers", "--workers"),
)


def _check_run_options(args: argparse.Namespace) -> None:
    """Refuse options ``agora run`` would otherwise accept and ignore (before anything is opened).

    Raises:
        BadParameterError: naming the option and what to do.
    """
    if args.inject is None:
        for attr, flag in _INJECT_OPTIONS:
            if getattr(args, attr) not in (None, []):
                raise BadParameterError(
                    f"{flag} applies to an injected message: add --inject TEXT (or --inject '' with "
                    "--author ID to let that agent write it)"
                )
    if args.ticks_per_second == 0:
        raise BadParameterError(
            "--ticks-per-second 0 would never tick: give a rate above 0, or drop it to run as fast as possible"
        )
    if args.max_ticks is not None and args.steps is not None:
        raise BadParameterError("--max-ticks limits --until-done: with --steps N the run takes exactly N ticks")
    if args.workers is not None and args.runs is None:
        raise BadParameterError("--workers spreads the runs of an ensemble: add --runs R")
    if args.kernel is not None and args.runs is None:
        raise BadParameterError("--kernel chooses how an ensemble runs: add --runs R")
    if args.ccdf is not None and args.runs is None:
        raise BadParameterError(
            "--ccdf is the distribution of cascade sizes over an ensemble's runs: add --runs R (one run's "
            "size is in its 'cascade' in --json)"
        )
    if args.runs is not None and (args.checkpoint_every is not None or args.checkpoint_seconds is not None):
        flag = "--checkpoint-every" if args.checkpoint_every is not None else "--checkpoint-seconds"
        raise BadParameterError(f"{flag} checkpoints a persisted run: with --runs the world file is not modified")
    check_outputs(args)


def check_outputs(args: argparse.Namespace) -> None:
    """Check ``--series``, ``--plot``, ``--cascades``, ``--ccdf`` and ``--force`` (of ``run`` and ``sweep``)
    before any work.

    Raises:
        BadParameterError / TargetExistsError: an unknown extension, Parquet without its extra, an
            existing file without ``--force``, or ``--force`` with no file.
    """
    outputs = (
        ("--series", args.series, "series file", check_series_path),
        ("--plot", args.plot, "figure", check_figure_path),
        ("--cascades", args.cascades, "cascades file", check_cascades_path),
        ("--ccdf", args.ccdf, "ccdf file", check_ccdf_path),
    )
    named = [(flag, path) for flag, path, _, _ in outputs if path]
    if args.force and not named:
        raise BadParameterError(
            "--force overwrites the --series, --plot, --cascades and --ccdf files: give one of them"
        )
    # One file named twice, or an output that is an input, was refused before (sim.cli.paths).
    for _, path, what, check_path in outputs:
        if path:
            check_target(path, args.force, what=what)
            check_path(path)


def write_outputs(
    args: argparse.Namespace,
    result: EnsembleReport | SweepReport,
    records: list[dict[str, object]],
    keys: list[str],
    title: str,
) -> None:
    """Write the ``--series`` file and draw the ``--plot`` figure of a run or sweep; note them in ``result``."""
    if args.series:
        result["series_file"] = save_series(args.series, records, keys)
    if args.plot:
        label = os.path.basename(args.world)
        result["plot"] = plot_tables(
            [(label, table_from_records(records, keys, source=args.world))], args.plot, title=title
        )


def file_llm(path: str) -> dict[str, Any] | None:
    """The LLM settings the world file stores, as an opened world holds them: read from its metadata alone,
    without the servers a file may name (:func:`sim.store.worldfile.file_llm_settings`: never a file's)."""
    raw = (read_meta(path).get("config") or {}).get("llm")
    return file_llm_settings(raw)[0] if isinstance(raw, dict) else None


def ensemble_request(
    args: argparse.Namespace, params: dict[str, Any], llm: dict[str, Any] | None, registry: Registry
) -> Ensemble:
    """The :class:`Ensemble` ``agora run``'s arguments ask for (checked by :meth:`Ensemble.parse`, as the
    Python API's and the server's requests are).

    Raises:
        BadParameterError: one sentence naming the mistake.
    """
    fields = {
        "text": args.inject,
        "model": args.model or "ic",
        "params": params,
        "seeds": args.seeds or "random:10",
        "topics": args.topic,
        "author": args.author,
        "priority": args.priority or 0,
        "seed": args.seed or 0,
        "runs": args.runs,
        "steps": args.steps,
        "until_done": args.until_done,
        "max_ticks": args.max_ticks,
        "intervene": args.intervene,
        "social": social_changes(args),
        "llm": llm,
        "llm_wait": args.llm_wait,
        "workers": args.workers,
        "kernel": args.kernel or "auto",
        "trees": bool(args.cascades),
        "by": args.by or None,
        "ticks_per_second": args.ticks_per_second or None,
        "plugin_budget": args.plugin_budget,
        "checkpoint_every": 50 if args.checkpoint_every is None else args.checkpoint_every,
        "checkpoint_seconds": args.checkpoint_seconds or None,
    }
    return Ensemble.parse(fields, registry)


async def _ensemble(args: argparse.Namespace, request: Ensemble, monitor: Any, registry: Registry) -> int:
    """``agora run --runs R``: a thin layer over the Python API's :meth:`sim.lab.world.WorldFile.aensemble`, so the
    command and the API cannot drift."""
    llm = None if request.llm is None else dict(request.llm)
    refuse_unused_llm(args, local.planned_config(file_llm(args.world), llm), command="run")
    estimate = None
    if online_run(file_llm(args.world), request):  # the world is read again only for a run with a server
        estimate = await estimate_before_run(args, await open_world(args.world), request, registry)
    with stderr_progress() as progress:
        res = await WorldFile(args.world, plugins=args.plugins).aensemble(request, progress=progress, monitor=monitor)
    stopped = [r for r in res.runs if r.status == "max-ticks"]
    if stopped:
        sys.stderr.write(
            f"agora: note: {len(stopped)} of {len(res.runs)} run{'s' if len(res.runs) != 1 else ''} "
            f"stopped at --max-ticks {MAX_TICKS if args.max_ticks is None else args.max_ticks} before the model "
            "ended (status max-ticks)\n"
        )
    # A failed run is no result: its series stays in the JSON (how far it got) but not in files or figures.
    result = res.report()  # printed and dropped: no copy (1,000 runs with their series took 0.5 s to copy)
    if series_records(result) or not (args.series or args.plot):
        if args.series:
            res.write_series(args.series, force=args.force)
        if args.plot:
            res.plot(args.plot, force=args.force)
    else:
        sys.stderr.write("agora: note: no run completed, so no --series file or --plot figure was written\n")
    write_cascade_files(args, res)
    result = res.report()  # with the files written
    after = estimate_after_run(result, estimate)
    if not args.json:
        for r in result["runs"]:
            r.pop("new_per_tick", None)
    emit(args, result, lambda: format_run(result) + (f"\n{after}" if after else ""))
    return report_failures(result)


async def _run(args: argparse.Namespace, request: Ensemble, registry: Registry, monitor: Any) -> int:
    # What the metadata can refuse is refused before the world is opened (nothing is left beside it).
    llm = {} if request.llm is None else dict(request.llm)
    refuse_unused_llm(args, local.planned_config(file_llm(args.world), llm), command="run")
    # The caller holds the world's lock, and the writer starts after the read: nothing writes the world
    # meanwhile (so an encrypted world's arrays are read on two cores).
    world = await open_world(args.world, exclusive=True)
    changes = dict(request.social)
    if changes:  # validate before anything is written
        check_social_params(Social(world, registry).configure(**changes), changes)
    estimate = await estimate_before_run(args, world, request, registry)
    writer = await WorldWriter(args.world).start()
    max_ticks = request.max_ticks
    try:
        with stderr_progress() as progress:
            result = await run_cascades(
                world, request, registry=registry, writer=writer, progress=progress, monitor=monitor
            )
        if writer is not None:
            writer.submit_audit(
                "run",
                {
                    "ticks": sum(int(r.get("ticks", 0)) for r in result["runs"]),
                    "tick": world.tick,
                    "steps": args.steps,
                    "until_done": bool(args.until_done),
                    "session": result["runs"][0].get("session"),
                    "social": changes,
                    "llm": public_settings(llm),
                    "model": result["model"] if args.inject is not None else None,
                },
            )
    finally:
        if writer is not None:
            await writer.close()
    stopped = [r for r in result["runs"] if r.get("status") == "max-ticks"]
    if stopped:
        sys.stderr.write(
            f"agora: note: {len(stopped)} of {len(result['runs'])} run{'s' if len(result['runs']) != 1 else ''} "
            f"stopped at --max-ticks {max_ticks} before the model ended (status max-ticks)\n"
        )
    # A failed run is no result: its series stays in the JSON (how far it got) but not in files or figures.
    records = series_records(result)
    runs = f"{len(records)} run{'s' if len(records) != 1 else ''}"
    if records or not (args.series or args.plot):
        write_outputs(args, result, records, [], f"{result['model']} on {os.path.basename(args.world)}, {runs}")
    else:
        sys.stderr.write("agora: note: no run completed, so no --series file or --plot figure was written\n")
    # The trees (numpy arrays) come out of the report before it is printed as JSON.
    trees = [(r.get("status"), r.pop("tree", None)) for r in result["runs"]]
    records = [{"keys": {}, "run": i, "tree": t} for i, (st, t) in enumerate(trees) if t is not None and st != "failed"]
    if args.cascades:
        if records:
            result["cascades_file"] = save_cascades(args.cascades, records)
        else:
            sys.stderr.write(f"agora: note: {_NO_TREE_NOTE}, so no --cascades file was written\n")
    after = estimate_after_run(result, estimate)
    if not args.json:
        for r in result["runs"]:
            r.pop("new_per_tick", None)
    emit(args, result, lambda: format_run(result) + (f"\n{after}" if after else ""))
    return report_failures(result)


#: What is said when there is no cascade tree to write.
_NO_TREE_NOTE = "no completed run has a cascade tree (a failed run has none, nor has a model that names no sources)"


def write_cascade_files(args: argparse.Namespace, res: Any) -> None:
    """Write the ``--cascades`` and ``--ccdf`` files of an ensemble or sweep result (checked before the runs by
    :func:`check_outputs`); a note on stderr instead when no completed run has a tree."""
    if args.cascades:
        if len(res.cascades.records):
            res.write_cascades(args.cascades, force=args.force)
        else:
            sys.stderr.write(f"agora: note: {_NO_TREE_NOTE}, so no --cascades file was written\n")
    if args.ccdf:
        if len(res.ccdf()):
            res.write_ccdf(args.ccdf, force=args.force)
        else:
            sys.stderr.write(f"agora: note: {_NO_TREE_NOTE}, so no --ccdf file was written\n")


def cascade_stats_text(stats: dict[str, Any]) -> str:
    """The mean and interval of the cascade measures of an ensemble or sweep arm, on one line."""

    def part(name: str, label: str, digits: int) -> str:
        m = stats[name]
        lo, hi = m["ci95"]
        ci = "" if lo is None or hi is None else f" ({lo:,.{digits}f} .. {hi:,.{digits}f})"
        return f"{label} {m['mean']:,.{digits}f}{ci}"

    return ", ".join(
        [
            part("size", "size", 1),
            part("depth", "depth", 1),
            part("max_breadth", "max breadth", 1),
            part("structural_virality", "structural virality", 2),
        ]
    )


def written_files_text(result: EnsembleReport | SweepReport) -> list[str]:
    """The lines that say where the ``--cascades`` and ``--ccdf`` files went."""
    lines = []
    if "cascades_file" in result:
        f = result["cascades_file"]
        lines.append(f"cascades: {f['rows']:,} rows (one per agent of a forest) written to {f['path']}")
    if "ccdf_file" in result:
        f = result["ccdf_file"]
        lines.append(f"cascade sizes: {f['rows']:,} rows of their complementary CDF written to {f['path']}")
    return lines


def report_failures(result: EnsembleReport) -> int:
    """Say on stderr what failed in a run report (the first failed run's traceback, the recommenders
    switched off in a persisted run) and return the exit code: 3 when something failed, else 0."""
    failed = result.get("failed") or 0
    switched_off = [e for r in result["runs"] for e in r.get("recommender_errors") or []]
    first = result.get("first_failure")
    if failed and first is not None:
        total = result["completed"] + failed
        sys.stderr.write(
            f"agora: {failed} of {total} run{'s' if total != 1 else ''} failed; the first, run {first['run']} "
            f"(seed {first['seed']}): {shown_line(first['error'])}\n"
        )
        if tb := first.get("traceback"):
            sys.stderr.write(indented(tb) + "\n")
    for e in switched_off:
        what = "friend recommender" if e["role"] == "friend" else "recommender"
        sys.stderr.write(
            f"agora: {what} {shown_line(e['recommender'])} failed and was switched off; the run went on "
            f"without it: {shown_line(e['error'])}\n"
        )
        if tb := e.get("traceback"):
            sys.stderr.write(indented(tb) + "\n")
    return EXIT_FAILED if failed or switched_off else 0


def _number(value: object) -> float:
    """A number of a report read as it is (an LLM counter).

    Raises:
        TypeError: not a number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return value


def format_run(result: EnsembleReport) -> str:
    """The plain-text report of ``agora run``: one table row per run, then the summary lines."""
    n = result["agents"]
    lines = []
    runs = [r for r in result["runs"] if "status" in r]
    if runs:
        living = result["social"]["living"]
        head = ["run", "seed", "status", "reached", "share", "busiest tick", "ticks"]
        head += ["via graph", "via feeds"] if living else []
        rows = []
        for i, r in enumerate(runs):
            reached = r["reached"] if r["status"] != "failed" else None  # a run that did not fail has its reach
            row = [
                i,
                r["seed"],
                r["status"],
                f"{reached:,}" if reached is not None else "-",
                f"{100 * reached / n:.1f}%" if reached is not None and n else "-",
                "-" if r.get("peak_tick") is None else r["peak_tick"],
                r["ticks"],
            ]
            row += [f"{r['graph_reached']:,}", f"{r['feed_reached']:,}"] if living else []
            rows.append(row)
        numeric = [0, 1, 3, 4, 5, 6, 7, 8]
        title = f"model {result['model']} {params_text(result['params'])}, seeds {result['seeds']}, {n:,} agents"
        lines.append(render_table(head, rows, title=title, numeric=numeric))
        lines.append(
            "busiest tick: ticks from the seeding to the one with the most new adoptions (peak_tick in --json); "
            "not the peak of a state curve such as I in SIR: see --series"
        )
    else:
        lines.append(f"ran {sum(r['ticks'] for r in result['runs'])} ticks")
    failed = result.get("failed") or 0
    first = result["first_failure"]
    if failed and first is not None:  # a report with failed runs names the first
        where = f" at {shown_line(first['where'])}" if first.get("where") else ""
        if len(runs) == 1:
            lines.append(f"the run failed: {shown_line(first['error'])}{where}")
        else:
            lines.append(
                f"{failed} of {len(runs)} runs failed and are left out of every figure below; the first, run "
                f"{first['run']} (seed {first['seed']}): {shown_line(first['error'])}{where}"
            )
    if len(runs) > 1:
        if result["mean_reached"] is not None:
            lo, hi = result["ci95"]
            of = f" over the {result['completed']} completed runs" if failed else ""
            lines.append(f"mean reached {result['mean_reached']:,.1f}  (95% CI {lo:,.1f} .. {hi:,.1f}){of}")
        else:
            lines.append("mean reached: none (no run completed)")
        if stats := result.get("cascade"):
            lines.append("cascade, mean (95% CI): " + cascade_stats_text(stats))
    elif len(runs) == 1 and (c := runs[0].get("cascade")):
        lines.append(
            f"cascade: size {c['size']:,}, {c['trees']:,} tree{'s' if c['trees'] != 1 else ''}, depth {c['depth']}, "
            f"max breadth {c['max_breadth']:,}, structural virality {c['structural_virality']:.2f}"
        )
    for r in runs:
        for e in r.get("recommender_errors") or []:
            what = "friend recommender" if e["role"] == "friend" else "recommender"
            where = f" at {shown_line(e['where'])}" if e.get("where") else ""
            lines.append(
                f"{what} {shown_line(e['recommender'])} failed and was switched off; the run went on without "
                f"it: {shown_line(e['error'])}{where}"
            )
    if result["social"]["living"]:
        soc = result["social"]
        off = soc.get("errors") or {}
        feeds = f"{soc['recommender']}{' (failed, switched off)' if soc['recommender'] in off else ''}"
        friend_off = "friend:" + str(soc["friend_recommender"]) in off
        friends = f"{soc['friend_recommender']}{' (failed, switched off)' if friend_off else ''}"
        lines.append(
            f"living network: feeds {feeds}, friends {friends}; "
            f"follows {soc['follows']:,}, unfollows {soc['unfollows']:,}, joins {soc['joins']:,}, leaves "
            f"{soc['leaves']:,}"
        )
    st = result["llm"]
    tokens = _number(st["tokens_in"]) + _number(st["tokens_out"])
    lines.append(
        f"LLM {st['mode']} ({st['model']}): {st['calls']:,} calls, {st['cache_hits']:,} from cache, "
        f"{st['fallbacks']:,} fallbacks, {tokens:,} tokens (${st['cost_usd']:.4f}); "
        f"{st['posts']:,} posts written"
    )
    if "series_file" in result:
        lines.append(f"series: {result['series_file']['rows']:,} rows written to {result['series_file']['path']}")
    if "plot" in result:
        lines.append(f"figure: {result['plot']['output']}")
    lines += written_files_text(result)
    if result.get("kernel") == "batched":
        lines.append("runs computed by the batched kernel (--kernel engine ticks them through the engine)")
    elif result.get("kernel_reason") and result["kernel_reason"] != "--kernel engine":
        lines.append(f"runs ticked through the engine: {result['kernel_reason']}")
    if result["persisted"] and len(runs) == 1 and runs[0]["status"] == "running":
        lines.append(
            f"session {runs[0]['session']} is still running: --steps ran out before the model ended (agora run "
            "--until-done continues it; agora forecast branches it)"
        )
    lines.append("world file updated" if result["persisted"] else "world file not modified")
    return "\n".join(lines)
