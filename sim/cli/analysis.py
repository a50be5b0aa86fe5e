"""``agora analyze``, ``agora export`` and ``agora path`` (``agora bench analysis`` is in :mod:`sim.cli.bench`).

Their flags are declared in :mod:`sim.cli.parsers` (``add_analysis``);
:func:`handle` runs any of them and returns the exit code. A user's mistake raises
:class:`~sim.errors.AgoraError` (one line on stderr, exit 2, as everywhere in the CLI).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from typing import Any

import numpy as np

from sim.analysis.export import MAX_GRAPH_EDGES, export_world
from sim.analysis.groups import MISSING, GroupTable, category_codes, group_table, layer_world
from sim.analysis.structure import (
    AnalysisResult,
    Communities,
    analysis_record,
    analyze,
    changed_fraction,
    influence_ranking,
    isolated_text,
    shortest_path,
    store_analysis,
)
from sim.cli.args import EXIT_USAGE, Parser
from sim.cli.fields import flagged
from sim.cli.output import emit
from sim.cli.parser import add_analysis
from sim.cli.progress import stderr_progress
from sim.core.audit import append_audit
from sim.core.world import Progress, World
from sim.core.worldlock import world_lock
from sim.errors import AgoraError, BadParameterError
from sim.store.analysis_tables import CommunityTable, community_table
from sim.store.worldfile import check_target, open_world, persist_analysis

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """Agent text for a terminal: control characters (escape sequences) shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def handle(args: argparse.Namespace) -> int:
    """Run ``analyze``, ``export`` or ``path``; returns the exit code.

    Raises:
        AgoraError: a user's mistake (a missing world, an unknown agent, a too large export).
    """
    if args.command == "analyze":
        return asyncio.run(_cmd_analyze(args))
    if args.command == "export":
        return asyncio.run(_cmd_export(args))
    if args.command == "path":
        return asyncio.run(_cmd_path(args))
    raise AssertionError(f"unknown command {args.command!r}")  # pragma: no cover - argparse restricts it


def _analyses(args: argparse.Namespace) -> tuple[bool, bool, bool]:
    """Which analyses ``analyze`` runs (communities, PageRank, structure), with the defaults of the options
    left out filled in.

    Raises:
        BadParameterError: an option given that none of those analyses uses.
    """

    if args.by is not None:
        # Grouping by a category replaces the detection; PageRank always runs: it ranks each group's influencers.
        for flag, value in (
            ("--communities", args.communities),
            ("--method", args.method),
            ("--resolution", args.resolution),
        ):
            if value:
                raise BadParameterError(
                    f"{flag} applies to community detection, and --by groups the agents by a category instead: "
                    f"drop {flag}, or drop --by"
                )
    do_comm = (args.communities or args.all) and args.by is None
    do_pr = args.pagerank or args.all or args.by is not None
    if not (do_comm or do_pr):
        do_comm = do_pr = True
    structure = args.structure or args.all
    if not do_comm:
        for flag, value in (("--method", args.method), ("--resolution", args.resolution)):
            if value is not None:
                raise BadParameterError(
                    f"{flag} applies to community detection, which --pagerank alone does not run: "
                    f"add --communities (or --all), or drop {flag}"
                )
    if args.method == "label-propagation" and args.resolution is not None:
        raise BadParameterError(
            "--resolution applies to leiden and louvain, and label-propagation has none: "
            "drop --resolution, or choose --method leiden or louvain"
        )
    if args.seed is not None and not (do_comm or structure):
        raise BadParameterError(
            "--seed seeds the community search and --structure's path sampling, and PageRank alone "
            "draws no random numbers: drop --seed, or add --communities or --structure"
        )
    if args.samples is not None and not structure:
        raise BadParameterError(
            "--samples sets the path-length estimate of --structure: add --structure (or --all), or drop --samples"
        )
    args.method = args.method or "leiden"
    args.resolution = 1.0 if args.resolution is None else args.resolution
    args.seed = 0 if args.seed is None else args.seed
    args.samples = 16 if args.samples is None else args.samples
    return do_comm, do_pr, structure


def _report_only(args: argparse.Namespace) -> bool:
    """Whether ``analyze`` leaves the world file as it is: ``--no-store``, and always with ``--by`` (groups are not
    communities) or ``--layer`` (the stored analysis describes the whole graph)."""
    return bool(args.no_store or args.by is not None or args.layer)


async def _cmd_analyze(args: argparse.Namespace) -> int:
    if _report_only(args):
        return await _analyze(args)
    with world_lock(args.world, what="store an analysis"):  # before the read: no change in between
        return await _analyze(args)


async def _analyze(args: argparse.Namespace) -> int:
    do_comm, do_pr, structure = _analyses(args)
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        world = await open_world(args.world, progress=progress)
        t_open = time.perf_counter() - t0
        before = analysis_record(world)
        whole = world
        if args.layer:  # the edges of those layers only, on the same agents
            world = layer_world(world, args.layer)
        if args.by is not None:
            category_codes(world, args.by)  # refused before the analysis runs
        result = await asyncio.to_thread(
            analyze,
            world,
            pagerank=do_pr,
            communities=do_comm,
            structure=structure,
            method=args.method,
            resolution=args.resolution,
            seed=args.seed,
            path_samples=args.samples,
            progress=progress,
        )
        changed = None
        if before and before.get("graph") and world is whole:
            changed = changed_fraction(before["graph"], result.fingerprint)
        table = None
        t_store = 0.0
        stored = not _report_only(args)
        if args.layer and result.communities is not None and result.communities.count:
            # The layer's communities, tabulated for the report (never stored).
            table = community_table(world, membership=result.communities.membership, influence=_influence(result))
        if stored:
            t1 = time.perf_counter()
            table = await _store(args, world, result, do_pr=do_pr, do_comm=do_comm, progress=progress)
            t_store = time.perf_counter() - t1
    seconds = dict(result.seconds)
    seconds["open"] = round(t_open, 3)
    seconds["store"] = round(t_store, 3)
    seconds["total"] = round(time.perf_counter() - t0, 3)
    data: dict[str, Any] = {
        "world": os.path.abspath(args.world),
        "agents": world.n,
        "edges": world.num_edges,
        "symmetric": result.symmetric,
        "stored": stored,
        "previous_analysis": before is not None,
        "changed_since_previous": None
        if changed is None
        else (round(changed, 4) if changed != float("inf") else "all"),
        "seconds": seconds,
    }
    lines = [f"world        {args.world}: {world.n:,} agents, {world.num_edges:,} edges"]
    if args.layer:
        data["layers"] = list(dict.fromkeys(args.layer))
        data["world_edges"] = whole.num_edges
        lines[0] += f" in {'layer' if len(data['layers']) == 1 else 'layers'} {', '.join(data['layers'])}"
        lines[0] += f" (of {whole.num_edges:,})"
    if result.communities is not None:
        data["communities"] = _communities_report(result.communities, table, args.top, lines)
    if args.by is not None:
        groups = group_table(world, args.by, result.pagerank)
        data["groups"] = groups.summary(args.top)
        lines += _group_lines(groups, args.top)
    if result.pagerank is not None:
        top = influence_ranking(world, result.pagerank, top=args.top)
        data["pagerank"] = {"top": top, "seconds": seconds.get("pagerank")}
        lines += _pagerank_lines(top, seconds)
    if result.structure is not None:
        data["structure"] = result.structure
        lines += _structure_lines(result.structure)
    lines.append("seconds      " + ", ".join(f"{k} {v:g}" for k, v in seconds.items()))
    if stored:
        lines.append("stored in the world file")
    else:
        why = [
            flag for flag, given in (("--no-store", args.no_store), ("--by", args.by), ("--layer", args.layer)) if given
        ]
        lines.append(f"world file not modified ({', '.join(why)}: report only)")
    emit(args, data, "\n".join(lines))
    return 0


async def _store(
    args: argparse.Namespace, world: World, result: AnalysisResult, *, do_pr: bool, do_comm: bool, progress: Progress
) -> CommunityTable | None:
    """Store the analysis in the world file and its audit log; the communities table stored."""
    table = await asyncio.to_thread(store_analysis, world, result)
    await persist_analysis(args.world, world, table, progress=progress)
    append_audit(
        args.world,
        "analysis",
        {
            "communities": table.count if table is not None else 0,
            "isolated": result.communities.isolated if result.communities else None,
            "pagerank": bool(do_pr),
            "method": args.method if do_comm else None,
        },
    )
    return table


def _communities_report(
    communities: Communities, table: CommunityTable | None, top: int, lines: list[str]
) -> dict[str, Any]:
    """The communities' summary (with the stored table's ``top`` rows and flows), its lines added to ``lines``."""
    c = communities.summary(top)
    if table is not None:
        c["table"] = table.rows(top)
        c["top_flows"] = table.top_flows(top)
    lines.append(
        f"communities  {c['count']:,} (modularity {c['modularity']:.4f}) · {isolated_text(c['isolated'])} "
        f"[{c['method']}, resolution {c['resolution']:g}, {c['seconds']:.1f} s]"
    )
    if c["count_size_2_plus"] != c["count"]:
        lines.append(f"  with 2+    {c['count_size_2_plus']:,} of the communities have 2 or more agents")
    lines.append("  largest    " + ", ".join(f"{s:,}" for s in c["largest"]))
    for row in c.get("table", [])[:top]:
        lines.append(
            f"  #{row['id']:<4} {row['size']:>9,} agents  density {row['density']:.2e}  "
            f"{', '.join(row['interests'])}  top {', '.join(map(str, row['top_influencers'][:3]))}"
        )
    return c


def _influence(result: AnalysisResult) -> np.ndarray | None:
    """PageRank over its maximum (the stored influence), or None when not computed."""
    pr = result.pagerank
    if pr is None or not pr.size:
        return None
    top = float(pr.max())
    return pr / top if top > 0 else np.zeros_like(pr)


def _group_lines(groups: GroupTable, top: int) -> list[str]:
    """The groups of ``--by``, largest first: label (as it is, control characters escaped), size, density,
    interests, top influencers; the largest flows between groups."""
    lines = [f"groups       {groups.count:,} by {_printable(groups.by)}"]
    if groups.missing:
        lines[0] += f" · {groups.missing:,} agents with no value ({MISSING}) in no group"
    rows = groups.rows(top)
    width = min(24, max((len(_printable(r["label"])) for r in rows), default=0))
    for row in rows:
        lines.append(
            f"  {_printable(row['label']):<{width}} {row['size']:>9,} agents  {row['internal_edges']:>9,} internal "
            f"edges  density {row['density']:.4f}  {', '.join(row['interests'])}  "
            f"top {', '.join(map(str, row['top_influencers'][:3]))}"
        )
    if groups.count > len(rows):
        lines.append(f"  ... {groups.count - len(rows):,} more (--top)")
    flows = groups.top_flows(top)
    if flows:
        lines.append(
            "  between    "
            + ", ".join(f"{_printable(f['src_label'])} -> {_printable(f['dst_label'])} {f['edges']:,}" for f in flows)
        )
    return lines


def _pagerank_lines(top: list[dict[str, Any]], seconds: dict[str, float]) -> list[str]:
    """The most influential agents by PageRank, one a line."""
    lines = [f"pagerank     top {len(top)} [{seconds.get('pagerank', 0):.1f} s]"]
    for r in top:
        lines.append(
            f"  {r['rank']:>3}. {r['id']:<12} {_printable(r['name']):<24} {r['pagerank']:.3e}  {r['followers']:,} "
            "followers"
        )
    return lines


def _structure_lines(st: dict[str, Any]) -> list[str]:
    """The structure metrics: components, clustering, paths and the largest k-core."""
    comp, clus, paths = st["components"], st["clustering"], st["paths"]
    return [
        f"components   weak {comp['weak']['count']:,} (largest {comp['weak']['largest_share']:.1%}), "
        f"strong {comp['strong']['count']:,} (largest {comp['strong']['largest_share']:.1%})",
        f"clustering   global {clus['global']:.4f}, average local {clus['average_local']:.4f}",
        f"paths        mean distance {paths['mean_distance']} (from {paths['sources']} sources), "
        f"diameter >= {paths['diameter_estimate']}",
        f"k-core       max {st['coreness']['max']}",
    ]


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    ext = os.path.splitext(args.out)[1].lower().lstrip(".")
    if ext in ("csv", "graphml", "gexf"):
        return ext
    raise BadParameterError(
        f"cannot tell the format of {args.out!r} from its extension: pass --format csv, graphml or gexf"
    )


async def _cmd_export(args: argparse.Namespace) -> int:
    fmt = _format_of(args)
    if args.radius is not None and args.ego is None:
        raise BadParameterError("--radius needs --ego AGENT: it is the radius of an ego network")
    if args.max_edges is not None and fmt == "csv":
        raise BadParameterError(
            "--max-edges limits GraphML and GEXF graphs, and a CSV holds agents only: drop --max-edges, "
            "or choose --format graphml or gexf"
        )
    radius = 1 if args.radius is None else args.radius
    max_edges = MAX_GRAPH_EDGES if args.max_edges is None else args.max_edges
    check_target(args.out, args.force, what="export")
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        world = await open_world(args.world, progress=progress)
        rec = analysis_record(world) or {}
        analysed = False
        # The world's own communities (planted by the generator, or stored by 'agora analyze') are the ones
        # 'agora agent' and the TUI show: an export never replaces them with a fresh detection.
        has_communities = bool(rec.get("communities")) or int(world.columns["community"].max(initial=-1)) >= 0
        computed = [
            what
            for what, missing in (("communities", not has_communities), ("PageRank", not rec.get("pagerank")))
            if missing
        ]
        if computed:
            # Computed for this export only; the world file is not modified.
            result = await asyncio.to_thread(
                analyze, world, pagerank=not rec.get("pagerank"), communities=not has_communities, progress=progress
            )
            store_analysis(world, result)
            analysed = True
        info = await asyncio.to_thread(
            export_world,
            world,
            args.out,
            fmt,
            community=args.community,
            ego=args.ego,
            radius=radius,
            max_edges=max_edges,
            force=args.force,
            progress=progress,
        )
    info["analysed_for_export"] = analysed
    info["computed_for_export"] = computed
    info["seconds"] = round(time.perf_counter() - t0, 3)
    text = f"wrote {info['agents']:,} agents" + (
        f" and {info['edges']:,} edges" if info.get("edges") is not None else ""
    )
    text += f" ({info['part']}) to {args.out} as {fmt}"
    if analysed:
        what = " and ".join(computed)
        text += (
            f"\n{what} {'were' if len(computed) > 1 else 'was'} computed for this export only: run 'agora analyze "
            f"WORLD' to store {'them' if len(computed) > 1 else 'it'}"
        )
    emit(args, info, text)
    return 0


async def _cmd_path(args: argparse.Namespace) -> int:
    world = await open_world(args.world)
    t0 = time.perf_counter()
    path = await asyncio.to_thread(shortest_path, world, args.a, args.b, directed=not args.undirected)
    data = {
        "from": args.a,
        "to": args.b,
        "directed": not args.undirected,
        "length": len(path) - 1,
        "path": path,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    names = [_printable(world.persona(world.index_of(i)).name) for i in path]
    arrow = " -- " if args.undirected else " -> "
    text = arrow.join(f"{i} ({name})" for i, name in zip(path, names)) + f"\n{len(path) - 1} hops"
    emit(args, data, text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A parser with only this module's commands (``analyze``, ``export``, ``path``): for tests."""
    p = Parser(prog="agora", description="Agora network analysis commands.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)
    add_analysis(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` with :func:`build_parser` and run it, reporting errors as ``agora`` does."""

    args = build_parser().parse_args(argv)
    try:
        return handle(args)
    except AgoraError as exc:
        sys.stderr.write(f"agora: error: {flagged(exc, getattr(args, 'command', None))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("agora: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
