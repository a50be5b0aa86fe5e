"""The ``agora`` command: headless, scriptable, every reporting command takes ``--json``.

A user's mistake ends with one sentence on stderr and exit code 2; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

from sim import __version__
from sim.errors import AgoraError, BadParameterError

EXIT_USAGE = 2
#: The command finished, but some runs (or arms, or a recommender) failed: its numbers leave them out.
EXIT_FAILED = 3


#: Words from other tools for Agora's flags: what a typo's spelling alone would not suggest.
_SYNONYMS = {
    "--nodes": "--agents", "--node": "--agents", "--n": "--agents", "--num-agents": "--agents", "--users": "--agents",
    "--vertices": "--agents", "--agent": "--agents", "--edgelist": "--edges", "--edge-list": "--edges",
    "--iterations": "--steps", "--ticks": "--steps", "--repeats": "--runs", "--trials": "--runs",
    "--jobs": "--workers", "--processes": "--workers", "--parameter": "--param",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, with the nearest flag or command when the
    mistake looks like a typo (``--untl-done``: did you mean ``--until-done``?), and exits with 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Scripts rely on exact flags: argparse's abbreviations would take --agent for --agents.
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        self._words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        hint = self._suggestion(message)
        sys.stderr.write(f"{self.prog}: error: {message}{hint} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)

    def _suggestion(self, message: str) -> str:
        import difflib

        # A mistyped flag, wherever argparse stumbled (an unrecognised argument, or a required one that
        # the typo left out): the first word that is no flag of the command but is close to one.
        words = getattr(self, "_words", [])
        flags = self._flags(words)
        for word in (w.split("=", 1)[0] for w in words if w.startswith("--")):
            if word not in flags:
                synonym = _SYNONYMS.get(word)
                if synonym in flags:
                    return f"; did you mean {synonym} (not {word})?"
                near = difflib.get_close_matches(word, flags, n=1, cutoff=0.6)
                if near:
                    return f"; did you mean {near[0]} (not {word})?"
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2)) or [c.strip() for c in choice.group(2).split(",")]
            near = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.6)
            if near:
                return f"; did you mean {near[0]!r}?"
        return ""

    def _flags(self, words: list[str]) -> list[str]:
        """The option strings of the command the words name (its subcommands' too), else of all."""
        parser: argparse.ArgumentParser = self
        for word in words:
            subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            if subs and word in subs[0].choices:
                parser = subs[0].choices[word]
        found: list[str] = []
        todo = [parser]
        while todo:
            p = todo.pop()
            for action in p._actions:
                if isinstance(action, argparse._SubParsersAction):
                    todo.extend(action.choices.values())
                else:
                    found += [o for o in action.option_strings if o.startswith("--")]
        return found


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of zero or more")
    return value


def _fraction(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="agora",
        description="Agora: simulate information spreading through social networks of up to millions of agents.",
        epilog="With no command, agora opens the default world (created in ./saves on first use).\n\n"
               "exit codes:\n"
               "  0  done, and every run completed (a cascade that reached nobody is a completed run)\n"
               "  2  bad input: one sentence on stderr says what and how to fix it; nothing was changed\n"
               "  3  the command finished, but some runs, sweep arms or recommenders failed: their plugin's\n"
               "     error and traceback are on stderr, and every statistic leaves the failed runs out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"agora {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    new = sub.add_parser("new", help="create a world (synthetic graph or imported edge list)",
                         description="Create a world file: a synthetic graph (--agents) or a real edge list (--edges).")
    new.add_argument("world", metavar="WORLD", help="path of the world file to create (e.g. saves/mine.db)")
    src = new.add_mutually_exclusive_group(required=True)
    src.add_argument("--agents", type=_positive_int, metavar="N", help="number of agents of a synthetic world")
    src.add_argument("--edges", metavar="FILE", help="import an edge list: SNAP 'u v' lines or CSV 'source,target[,weight]', optionally .gz")
    new.add_argument("--graph", choices=("community", "ba", "er", "sbm"), default=None,
                     help="synthetic graph model (default: community — planted heavy-tailed communities)")
    new.add_argument("--avg-degree", type=_non_negative_float, default=None, metavar="K",
                     help="mean number of neighbours; the world gets about N*K directed edges (default 10)")
    new.add_argument("--communities", type=_positive_int, metavar="C", help="planted communities (community, sbm; default about sqrt(N)/2)")
    new.add_argument("--mixing", type=_fraction, default=None, metavar="MU", help="share of links leaving a community, 0..1 (default 0.2)")
    new.add_argument("--directed", action="store_true", help="with --edges: keep lines as given (u v means v follows u) instead of both directions")
    new.add_argument("--seed", type=_int, default=0, help="seed for everything random (default 0)")
    new.add_argument("--minutes-per-tick", type=_positive_int, default=10, metavar="M",
                     help="simulated minutes per tick; agents are online by their hourly activity profile (default 10)")
    new.add_argument("--name", help="display name of the world (default: the file name)")
    new.add_argument("--reserve", type=_fraction, default=0.0, metavar="F",
                     help="share of agents created but not joined yet (they join during runs at the social setting join_rate; default 0)")
    _social_arguments(new, "the world's default")
    new.add_argument("--force", action="store_true", help="overwrite WORLD if it exists")
    new.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    info = sub.add_parser("info", help="describe a world file", description="Describe a world file.")
    info.add_argument("world", metavar="WORLD")
    info.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    agent = sub.add_parser("agent", help="show one agent", description="Show one agent of a world by its original id, "
                           "with what it remembers when the LLM speaks for it: its recent events (the short-term window, "
                           "'agora llm WORLD --set memory_window=K'), the summary of its older ones and the size of its memory.")
    agent.add_argument("world", metavar="WORLD")
    agent.add_argument("id", type=_int, metavar="ID", help="the agent's original id")
    agent.add_argument("--memory", type=_non_negative_int, default=None, metavar="N",
                       help="recent memories to list (default: the world's memory_window)")
    agent.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    save = sub.add_parser("save", help="save a world file as a snapshot", description="Write a world to a snapshot file (.snap).")
    save.add_argument("world", metavar="WORLD")
    save.add_argument("snapshot", metavar="SNAPSHOT")
    save.add_argument("--force", action="store_true", help="overwrite SNAPSHOT if it exists")
    save.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    load = sub.add_parser("load", help="restore a snapshot into a world file", description="Create a world file from a snapshot.")
    load.add_argument("snapshot", metavar="SNAPSHOT")
    load.add_argument("world", metavar="WORLD")
    load.add_argument("--force", action="store_true", help="overwrite WORLD if it exists")
    load.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    run = sub.add_parser("run", help="run the simulation headless (optionally injecting a message)",
                         description="Run a world headless. With --inject, a message spreads under --model from --seeds. "
                         "Without --runs the run is persisted into the world; with --runs R the same cascade is repeated "
                         "R times from the same starting world with seeds S, S+1, ... and the world file is not modified.")
    run.add_argument("world", metavar="WORLD")
    length = run.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=_positive_int, metavar="N",
                        help="run N ticks; an injected message's session seeds in the first, so N ticks give it N-1 "
                        "propagation rounds (each run's 'rounds' in --json)")
    length.add_argument("--until-done", action="store_true", help="run until every session has finished")
    run.add_argument("--max-ticks", type=_positive_int, metavar="N", help="stop --until-done after N ticks (default 10000)")
    run.add_argument("--inject", metavar="TEXT", help="text of a message to inject before running")
    run.add_argument("--topic", action="append", default=[], metavar="T", help="a topic of the message (repeatable; see 'agora topics')")
    run.add_argument("--author", type=_int, metavar="ID", help="the message's author (original id); with --inject '' the author writes it")
    run.add_argument("--seeds", metavar="SPEC", help="random:K, top:K, ids:a,b,c, community:C:K or file:PATH (original agent "
                     "ids, one a line; # comments) (default random:10)")
    run.add_argument("--model", metavar="NAME", help="propagation model (default ic; see 'agora plugins list')")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a model parameter (repeatable)")
    run.add_argument("--priority", type=_int, help="scheduling priority of the session (higher first; default 0)")
    run.add_argument("--runs", type=_positive_int, metavar="R", help="repeat the cascade R times without modifying the world")
    run.add_argument("--seed", type=_int, help="session seed (run r uses S+r; default 0)")
    run.add_argument("--workers", type=_positive_int, metavar="W",
                     help="with --runs: spread the runs over W processes forked from this one (Linux; default: one per "
                     "CPU, at most one per run); every run's result is the same whatever W")
    run.add_argument("--series", metavar="FILE", help="write the per-tick series of every run (agents in each state, reached, "
                     "new) in long format run,tick,measure,value: .csv, .csv.gz or .parquet (pip install 'agora-sim[parquet]')")
    run.add_argument("--plot", metavar="FILE", help="draw the series after the run (.png, .svg or .pdf; see 'agora plot')")
    run.add_argument("--force", action="store_true", help="overwrite the --series and --plot files if they exist")
    run.add_argument("--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)")
    _social_arguments(run, "for this run (default: the world's setting)")
    from sim.cli.llm import add_llm_arguments

    add_llm_arguments(run)
    run.add_argument("--llm-wait", type=_non_negative_float, default=30.0, metavar="S",
                     help="at the end, wait up to S seconds for LLM answers still in flight (default 30; the rest fall back)")
    run.add_argument("--ticks-per-second", type=_non_negative_float, metavar="X",
                     help="pace the run at X ticks per second (default: as fast as possible)")
    run.add_argument("--plugin-budget", type=_non_negative_float, metavar="S",
                     help="seconds one plugin call (a model's step, start or is_done, a recommender's scoring) may take "
                     "before its session fails or the recommender is switched off (default: $AGORA_PLUGIN_BUDGET, else 10; 0: none)")
    _checkpoint_arguments(run)
    _metrics_arguments(run)
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    social = sub.add_parser("social", help="show or change a world's living-network settings",
                            description="Show a world's living-network settings (content and friend recommenders, feed size, "
                            "churn, trust and reputation rates) or change them with the flags below. Changes are validated and "
                            "written to the world file; 'agora run' flags override them for one run.")
    social.add_argument("world", metavar="WORLD")
    _social_arguments(social, "the world's default")
    social.add_argument("--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)")
    social.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    tui = sub.add_parser("tui", help="open the terminal UI on a world", description="Open the terminal UI on a world file.")
    tui.add_argument("world", metavar="WORLD", nargs="?", help="world file (default: the default world in the saves folder)")
    tui.add_argument("--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)")
    _checkpoint_arguments(tui)
    _metrics_arguments(tui)

    topics = sub.add_parser("topics", help="list the 64 topics", description="List the topics agents and messages can have.")
    topics.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bench = sub.add_parser("bench", help="run a benchmark and print its figures", description="Benchmarks print JSON with a baseline measured in the same run.")
    bsub = bench.add_subparsers(dest="bench", metavar="BENCHMARK", parser_class=_Parser, required=True)
    bw = bsub.add_parser("world", help="generate, persist, open, snapshot save and load", description="World benchmark: generation, persistence, opening, PageRank, a headless cascade, snapshots and peak RSS.")
    bw.add_argument("--agents", type=_positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    bw.add_argument("--avg-degree", type=_non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    bw.add_argument("--seed", type=_int, default=1)
    bw.add_argument("--dir", metavar="DIR", help="folder for the temporary files (default: a temporary folder)")
    bw.add_argument("--run-ticks", type=_non_negative_int, default=30, metavar="T",
                    help="ticks of the headless ic cascade at most (default 30; 0 skips the run)")
    bw.add_argument("--no-analysis", action="store_true", help="skip the PageRank measurement")
    bw.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bp = bsub.add_parser("propagation", help="independent-cascade throughput vs a numpy kernel; concurrent sessions; NDlib",
                         description="Propagation benchmark: a full ic cascade against a plain numpy frontier kernel measured in "
                         "the same run, one tick with 10 concurrent sessions, and NDlib on 100,000 agents when installed.")
    bp.add_argument("--agents", type=_positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    bp.add_argument("--avg-degree", type=_non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    bp.add_argument("--p", type=_fraction, default=0.3, help="ic probability of the large outbreak (default 0.3)")
    bp.add_argument("--ndlib-agents", type=_positive_int, default=100_000, metavar="N", help="graph size for the NDlib comparison")
    bp.add_argument("--seed", type=_int, default=1)
    bp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bt = bsub.add_parser("tui", help="keypress-to-screen latency with a large world running; first frame",
                         description="TUI benchmark (Textual Pilot, headless): keypress latency while a world of N agents runs, "
                         "beside the same keys on a tiny idle world, and the time to the first frame on a default-sized world.")
    bt.add_argument("--agents", type=_positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    bt.add_argument("--sessions", type=_positive_int, default=5, metavar="S", help="concurrent sessions while measuring (default 5)")
    bt.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bser = bsub.add_parser("series", help="what recording the per-tick series costs in a cascade",
                           description="Series benchmark: the same ic and sir cascades (same seeds, same trajectory) with "
                           "the per-tick series recorded and not, alternating, on a world of N agents; medians and the overhead.")
    bser.add_argument("--agents", type=_positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    bser.add_argument("--avg-degree", type=_non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    bser.add_argument("--repeats", type=_positive_int, default=5, metavar="R", help="runs with and without recording per model (default 5)")
    bser.add_argument("--seed", type=_int, default=1)
    bser.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bm = bsub.add_parser("models", help="every built-in model's tick at 1M agents, and NDlib beside it at 100k",
                         description="Models benchmark: one busy session of every built-in propagation model on a world of "
                         "N agents (whole-tick milliseconds, median and maximum, against the 0.5 s target), and where NDlib "
                         "has the model, Agora and NDlib on a world of --ndlib-agents agents (agent updates per second and "
                         "the speedup). NDlib is optional: pip install 'agora-sim[bench]'.")
    bm.add_argument("--agents", type=_positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    bm.add_argument("--avg-degree", type=_non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    bm.add_argument("--ticks", type=_positive_int, default=10, metavar="T", help="rounds timed per model (default 10)")
    bm.add_argument("--ndlib-agents", type=_non_negative_int, default=100_000, metavar="N",
                    help="agents of the NDlib comparison (default 100,000; 0 skips it)")
    bm.add_argument("--model", action="append", default=[], metavar="NAME", help="only this model (repeatable)")
    bm.add_argument("--seed", type=_int, default=1)
    bm.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bc = bsub.add_parser("commands", help="agora new, save, load and analyze --all as a user runs them, beside yardsticks",
                         description="Commands benchmark: agora new, save, load and analyze --all on a world of N agents, each "
                         "in a fresh process (wall clock and peak RSS), repeated, medians, each beside a plain yardstick "
                         "measured in the same run (rows written with executemany; np.save; igraph's Leiden on a numpy-built "
                         "graph), against the targets (15 s, 3 s, 5 s, 45 s; 800 MB for new and load, 1.2 GB for analyze).")
    bc.add_argument("--agents", type=_positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    bc.add_argument("--avg-degree", type=_non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    bc.add_argument("--repeats", type=_positive_int, default=3, metavar="R", help="runs of each command (default 3)")
    bc.add_argument("--seed", type=_int, default=1)
    bc.add_argument("--dir", metavar="DIR", help="folder for the world files (default: a temporary folder)")
    bc.add_argument("--no-analysis", action="store_true", help="skip agora analyze --all and its yardstick")
    bc.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bs = bsub.add_parser("social", help="feeds, friend suggestions, graph merge and learning of the living network",
                         description="Living-network benchmark: every content recommender building feeds and every friend "
                         "recommender suggesting follows for a share of online agents, a bulk graph merge and a learning step, "
                         "beside plain numpy baselines measured in the same run, with peak RSS.")
    bs.add_argument("--agents", type=_positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    bs.add_argument("--avg-degree", type=_non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    bs.add_argument("--online", type=_fraction, default=0.1, metavar="F", help="share of agents online per tick (default 0.1)")
    bs.add_argument("--k", type=_positive_int, default=10, metavar="K", help="feed size and suggestions per agent (default 10)")
    bs.add_argument("--ticks", type=_positive_int, default=5, metavar="T", help="ticks timed per recommender (default 5)")
    bs.add_argument("--messages", type=_positive_int, default=10, metavar="M", help="live messages (default 10)")
    bs.add_argument("--seed", type=_int, default=7)
    bs.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    ba = bsub.add_parser("api", help="requests to agora serve, kept alive and not, beside a minimal Starlette app",
                         description="API benchmark: GET /api/v1/world to agora serve (a world of N agents) over one kept-alive "
                         "connection and over a new connection each time, beside a minimal Starlette app on uvicorn on this "
                         "machine (with TCP_NODELAY, and on a protocol-0 socket that leaves Nagle on); medians in ms, target "
                         "under 2 ms kept alive.")
    ba.add_argument("--agents", type=_positive_int, default=1000, metavar="N", help="agents (default 1,000)")
    ba.add_argument("--requests", type=_positive_int, default=300, metavar="R", help="requests timed per case (default 300)")
    ba.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    from sim.cli import analysis as cli_analysis, llm as cli_llm, plot as cli_plot, plugins as cli_plugins, sweep as cli_sweep

    cli_plugins.add_commands(sub)
    cli_sweep.add_commands(sub)
    cli_plot.add_commands(sub)
    from sim.cli import check as cli_check; cli_check.add_commands(sub)  # noqa: E702
    cli_analysis.add_commands(sub)
    cli_analysis.add_bench_command(bsub)
    cli_llm.add_commands(sub)
    cli_llm.add_bench_command(bsub)
    from sim.cli import audit as cli_audit

    cli_audit.add_command(sub)
    from sim.cli import serve as cli_serve

    cli_serve.add_commands(sub)
    return p


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    else:
        # Names, bios, messages and answers are data: control characters and ANSI escapes in them are shown
        # as visible escapes (sim.safe), never sent to the terminal raw.
        from sim.core.safe import shown

        sys.stdout.write(shown(text.rstrip("\n"), lines=True) + "\n")


def _fmt_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _communities_text(info: dict[str, Any]) -> str:
    if info.get("communities") is None:
        return "unknown (run analysis)"
    text = f"{info['communities']:,}"
    if info.get("isolated"):
        text += f" · {info['isolated']:,} isolated agents with no links (in no community)"
    return text


def _describe(info: dict[str, Any]) -> str:
    lines = [
        f"world        {info.get('name')}  ({info['path']})",
        f"agents       {info['agents']:,}",
        f"edges        {info['edges']:,} directed (edge u->v: v follows u)",
        f"communities  {_communities_text(info)}",
        f"tick         {info.get('tick', 0)}",
        f"seed         {info.get('seed')}",
        f"size         {_fmt_size(info['size_bytes'])}",
    ]
    src = info.get("source") or {}
    if src.get("kind") == "import":
        lines.append(
            f"imported     {src.get('file')} ({src.get('lines'):,} lines, {src.get('self_loops_dropped'):,} self-loops dropped, "
            f"{src.get('duplicates_merged'):,} duplicate edges merged)"
        )
    elif src.get("kind") == "synthetic":
        lines.append(f"generated    {src.get('graph')} graph, avg degree {src.get('avg_degree')}, mixing {src.get('mixing')}")
    return "\n".join(lines)


async def _cmd_new(args: argparse.Namespace) -> int:
    from sim.store.create import imported_world, synthetic_world
    from sim.cli.progress import stderr_progress
    from sim.store.worldfile import check_target, save_world, world_info

    _check_new_options(args)
    check_target(args.world, args.force)
    if not args.edges:  # refuse before minutes of work: memory (in synthetic_world) and disk here
        from sim.core.memory import ensure_disk, ensure_fits, world_file_bytes

        edges = int(args.agents * args.avg_degree)
        ensure_fits(args.agents, edges, what="a world")
        ensure_disk(args.world, world_file_bytes(args.agents, edges), f"a world of {args.agents:,} agents and about {edges:,} directed edges")
    name = args.name or os.path.splitext(os.path.basename(args.world))[0]
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        if args.edges:
            world = await asyncio.to_thread(imported_world, name, args.edges, directed=args.directed, seed=args.seed, progress=progress)
        else:
            world = await asyncio.to_thread(
                synthetic_world, name, args.agents, graph=args.graph, avg_degree=args.avg_degree,
                communities=args.communities, mixing=args.mixing, seed=args.seed, progress=progress,
            )
        world.config["minutes_per_tick"] = args.minutes_per_tick
        changes = _social_changes(args)
        if changes:
            from sim.social.dynamics import Social

            social = Social(world, make_registry([]), {})
            world.config["social"] = social.configure(**changes)
        if args.reserve > 0:
            from sim.core.world import Status

            pool = world_rng_pick(world, args.reserve)
            world.columns["status"][pool] = Status.CREATED
        t1 = time.perf_counter()
        await save_world(world, args.world, force=args.force, progress=progress)
    t2 = time.perf_counter()
    info = world_info(args.world)
    info.update({"build_seconds": round(t1 - t0, 3), "persist_seconds": round(t2 - t1, 3)})
    _emit(args, info, _describe(info) + f"\ncreated in   {t2 - t0:.1f} s")
    return 0


def _check_new_options(args: argparse.Namespace) -> None:
    """Refuse the options of ``agora new`` its graph source cannot use, then fill in the defaults.

    Raises:
        BadParameterError: naming the option and what to do.
    """
    synthetic = (("--graph", args.graph), ("--avg-degree", args.avg_degree), ("--communities", args.communities),
                 ("--mixing", args.mixing))
    if args.edges:
        for flag, value in synthetic:
            if value is not None:
                raise BadParameterError(f"{flag} shapes a synthetic graph and --edges imports one as it is: "
                                        f"drop {flag}, or give --agents N instead of --edges")
    elif args.directed:
        raise BadParameterError("--directed keeps the lines of an --edges file as given, and synthetic graphs are "
                                "undirected: drop --directed, or import a file with --edges FILE")
    elif args.graph in ("ba", "er"):
        for flag, value in synthetic[2:]:
            if value is not None:
                raise BadParameterError(f"{flag} applies to the community and sbm graphs, and {args.graph} plants no "
                                        f"communities: drop {flag}, or choose --graph community or sbm")
    for flag, attr, option in (("--recommender-param", "recommender_param", "recommender"),
                               ("--friend-param", "friend_param", "friend_recommender")):
        if getattr(args, attr) and getattr(args, option) in (None, "none"):
            raise BadParameterError(f"{flag} sets a parameter of the {option.replace('_', ' ')}, and a new world has "
                                    f"none: add --{option.replace('_', '-')} NAME, or drop {flag}")
    args.graph = args.graph or "community"
    args.avg_degree = 10.0 if args.avg_degree is None else args.avg_degree
    args.mixing = 0.2 if args.mixing is None else args.mixing


def world_rng_pick(world: Any, share: float) -> Any:
    """A seeded choice of ``share`` of the world's agents (the reserve of agents not joined yet)."""
    from sim.core.world import world_rng

    k = int(round(share * world.n))
    return world_rng(world.seed, 7).choice(world.n, size=k, replace=False)


async def _cmd_social(args: argparse.Namespace) -> int:
    from sim.social.dynamics import Social
    from sim.store.worldfile import open_world
    from sim.store.writer import WorldWriter

    registry = make_registry(args.plugins, args.world)
    world = await open_world(args.world)
    social = Social(world, registry)
    changes = _social_changes(args)
    if changes:
        settings = social.configure(**changes)
        _check_social_params(settings, changes)
        world.config["social"] = settings
        writer = await WorldWriter(args.world).start()
        try:
            writer.submit_audit("social", changes)
            await writer.checkpoint(world, [])
        finally:
            await writer.close()
    out = {"world": args.world, "settings": social.settings, "living": social.living, "changed": bool(changes),
           "errors": social.errors}
    lines = [f"{k:<20}{v}" for k, v in social.settings.items()]
    lines += [f"problem: {k}: {v}" for k, v in social.errors.items()]
    lines.append("settings saved" if changes else ("the network is living" if social.living else "the network is static (no recommender, no churn)"))
    _emit(args, out, "\n".join(lines))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from sim.store.worldfile import world_info

    info = world_info(args.world)
    _emit(args, info, _describe(info))
    return 0


async def _cmd_agent(args: argparse.Namespace) -> int:
    from sim.store.worldfile import open_world

    from sim.llm.config import LLMConfig
    from sim.llm.service import LLMService
    from sim.core.safe import shown

    world = await open_world(args.world)
    i = world.index_of(args.id)
    data = world.agent(i).to_dict()
    shown_values = dict(data)
    if data["community"] < 0:  # the JSON keeps -1; the text says what it means
        detected = bool((world.config.get("analysis") or {}).get("communities"))
        shown_values["community"] = "none (isolated, no links)" if detected else "unknown (run 'agora analyze WORLD')"
    lines = [f"{k:<18}{', '.join(v) if isinstance(v, list) else v}" for k, v in shown_values.items()]
    memory = LLMService(world, LLMConfig.resolve(world.config.get("llm"), env={})).agent_memory(i, recent=args.memory)
    data["memory"] = memory
    size = memory["size"]
    if not memory["remembers"]:
        lines.append(f"{'memory':<18}none (the LLM has not spoken for this agent; memory setting: {memory['setting']})")
    else:
        lines.append(f"{'memory':<18}{size['events']:,} events, {size['text_bytes']:,} bytes of text")
        if memory["summary"]:
            lines.append(f"{'summary':<18}{shown(memory['summary']['text'], 600)} (tick {memory['summary']['tick']}, "
                         f"{memory['summary']['written_by']})")
        for e in memory["recent"]:
            who = f" [{shown(e['other_name'], 60)}]" if e["other_name"] else ""
            lines.append(f"  tick {e['tick']:<6} {e['kind']:<13}{who} {shown(e['text'], 160)}")
    _emit(args, data, "\n".join(lines))
    return 0


async def _cmd_save(args: argparse.Namespace) -> int:
    from sim.cli.progress import stderr_progress
    from sim.store.snapshot import save_snapshot
    from sim.store.worldfile import check_target, open_world

    check_target(args.snapshot, args.force, what="snapshot")
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        world = await open_world(args.world, progress=progress)
        size = await asyncio.to_thread(save_snapshot, world, args.snapshot, force=args.force, progress=progress)
    data = {"world": os.path.abspath(args.world), "snapshot": os.path.abspath(args.snapshot), "size_bytes": size,
            "tick": world.tick, "seconds": round(time.perf_counter() - t0, 3)}
    from sim.core.audit import append_audit

    try:  # the world's audit log records the snapshot taken; a world file that cannot be written still saves
        append_audit(args.world, "save", {"snapshot": data["snapshot"], "tick": world.tick, "size_bytes": size})
    except AgoraError as exc:
        from sim.core.safe import shown

        sys.stderr.write(f"agora: note: the snapshot was saved, but {shown(exc, 500)}\n")
    _emit(args, data, f"saved {args.world} (tick {world.tick}) to {args.snapshot} ({_fmt_size(size)})")
    return 0


async def _cmd_load(args: argparse.Namespace) -> int:
    from sim.cli.progress import stderr_progress
    from sim.store.snapshot import SnapshotReader
    from sim.store.worldfile import check_target, save_world, world_info

    check_target(args.world, args.force)
    t0 = time.perf_counter()
    with stderr_progress() as progress:
        # The agents are written while the graph is still being read and checked.
        reader = await asyncio.to_thread(SnapshotReader, args.snapshot, progress=progress)
        with reader:
            world = await save_world(reader, args.world, force=args.force, progress=progress, keep_audit=True)
    from sim.core.audit import append_audit

    append_audit(args.world, "load", {"snapshot": os.path.abspath(args.snapshot), "tick": world.tick})
    info = world_info(args.world)
    info["seconds"] = round(time.perf_counter() - t0, 3)
    _emit(args, info, f"loaded {args.snapshot} into {args.world}\n" + _describe(info))
    return 0


def _parse_params(items: list[str], flag: str = "--param", example: str = "p=0.05") -> dict[str, str]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadParameterError(f"{flag} {item!r} is not KEY=VALUE (for example {flag} {example})")
        params[key.strip()] = value.strip()
    return params


def _social_arguments(p: argparse.ArgumentParser, scope: str) -> None:
    g = p.add_argument_group("living network", f"Recommenders, feeds and social dynamics ({scope}); see 'agora social --help'.")
    g.add_argument("--recommender", metavar="NAME", help="content recommender building the feeds: chronological, hot, interest, "
                   "collaborative, social-proof, random, a plugin's name, or none")
    g.add_argument("--friend-recommender", metavar="NAME", help="friend recommender: common-neighbours, adamic-adar, "
                   "interest-compatibility, random, a plugin's name, or none")
    g.add_argument("--feed-size", type=_positive_int, metavar="K", help="items per feed (default 10)")
    g.add_argument("--recommender-param", action="append", default=[], metavar="KEY=VALUE", help="a content recommender parameter (repeatable)")
    g.add_argument("--friend-param", action="append", default=[], metavar="KEY=VALUE", help="a friend recommender parameter (repeatable)")
    g.add_argument("--social", action="append", default=[], metavar="KEY=VALUE",
                   help="any other living-network setting, e.g. join_rate=0.01 or trust_gain=0.2 (repeatable; "
                   "'agora social WORLD' lists them)")


def _social_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The living-network settings given on the command line (empty when none)."""
    changes: dict[str, Any] = dict(_parse_params(args.social, "--social", "join_rate=0.01"))
    for key, value in (("recommender", args.recommender), ("friend_recommender", args.friend_recommender),
                       ("feed_size", args.feed_size)):
        if value is not None:
            changes[key] = value
    if args.recommender_param:
        changes["recommender_params"] = _parse_params(args.recommender_param, "--recommender-param", "half_life=6")
    if args.friend_param:
        changes["friend_params"] = _parse_params(args.friend_param, "--friend-param", "fanout=4")
    return changes


def _check_social_params(settings: dict[str, Any], changes: dict[str, Any]) -> None:
    """Refuse recommender parameters no recommender receives (``Social.configure`` keeps only the parameters
    of the recommenders in ``settings``).

    Raises:
        BadParameterError: naming the option and what to do.
    """
    for key, flag, option in (("recommender_params", "--recommender-param", "recommender"),
                              ("friend_params", "--friend-param", "friend_recommender")):
        if changes.get(key) and settings[option] == "none":
            raise BadParameterError(f"{flag} sets a parameter of the {option.replace('_', ' ')}, and this world has "
                                    f"none: add --{option.replace('_', '-')} NAME, or drop {flag}")


def make_registry(plugin_dirs: list[str], world_path: str | None = None):
    """The registry for a command: built-ins, entry points, ``AGORA_PLUGINS`` and ``--plugins`` folders,
    and the world's own ``<world>.plugins/`` folder only when named or trusted (``agora plugins trust``);
    one left out is said once on stderr (see ``sim.model.registry.world_plugin_folders``)."""
    from sim.errors import BadFileError
    from sim.model.registry import Registry, tell_once, world_plugin_folders

    for d in plugin_dirs:
        if not os.path.isdir(d):
            raise BadFileError(f"plugin folder {d!r} does not exist: give a folder of .py plugin files")
    extra, notice = world_plugin_folders(world_path, plugin_dirs)
    tell_once(notice)
    return Registry(list(plugin_dirs) + extra)


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _checkpoint_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint-every", type=_non_negative_int, metavar="N",
                   help="checkpoint the world into its file every N ticks while running; a crash loses at most the "
                   "ticks since the last checkpoint (default 50; 0: only when the run ends or you save)")
    p.add_argument("--checkpoint-seconds", type=_non_negative_float, metavar="S",
                   help="also checkpoint every S seconds of wall time, whichever comes first (default: off)")


def _check_metrics_options(args: argparse.Namespace) -> None:
    """Refuse --metrics-host without --metrics-port (no server to bind), then fill in its default."""
    if getattr(args, "metrics_host", None) is not None and getattr(args, "metrics_port", None) is None:
        raise BadParameterError("--metrics-host is the address of the metrics server, and there is none without "
                                "--metrics-port: add --metrics-port PORT, or drop --metrics-host")
    args.metrics_host = getattr(args, "metrics_host", None) or "127.0.0.1"


def _metrics_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=_int, metavar="PORT",
                   help="serve Prometheus metrics on /metrics and health on /healthz at PORT (0 picks a free port)")
    p.add_argument("--metrics-host", metavar="HOST",
                   help="address the metrics server binds to (default 127.0.0.1, this machine only)")


async def _cmd_run(args: argparse.Namespace) -> int:
    from sim.cli.llm import llm_overrides

    _check_run_options(args)
    _check_metrics_options(args)
    params = _parse_params(args.param)
    llm = llm_overrides(args)
    registry = make_registry(args.plugins, args.world)
    monitor = server = None
    if args.metrics_port is not None:  # bound before anything is opened: a busy port fails at once
        from sim.engine.observe import MetricsServer, Monitor

        tps = args.ticks_per_second
        monitor = Monitor(stall_after=max(60.0, 3.0 / tps) if tps else 60.0)
        server = MetricsServer(monitor, args.metrics_host, args.metrics_port).start()
        sys.stderr.write(f"agora: metrics on {server.url}/metrics, health on {server.url}/healthz\n")
        sys.stderr.flush()
    try:
        return await _run_command(args, params, llm, registry, monitor)
    finally:
        if server is not None:
            server.stop()


#: Options of ``agora run`` that describe the injected message or its runs: meaningless without --inject.
_INJECT_OPTIONS = (("seeds", "--seeds"), ("model", "--model"), ("param", "--param"), ("topic", "--topic"),
                   ("priority", "--priority"), ("runs", "--runs"), ("author", "--author"), ("seed", "--seed"),
                   ("series", "--series"), ("plot", "--plot"), ("workers", "--workers"))


def _check_run_options(args: argparse.Namespace) -> None:
    """Refuse options ``agora run`` would otherwise accept and ignore (before anything is opened).

    Raises:
        BadParameterError: naming the option and what to do.
    """
    if args.inject is None:
        for attr, flag in _INJECT_OPTIONS:
            if getattr(args, attr) not in (None, []):
                raise BadParameterError(f"{flag} applies to an injected message: add --inject TEXT (or --inject '' with "
                                        "--author ID to let that agent write it)")
    if args.ticks_per_second == 0:
        raise BadParameterError("--ticks-per-second 0 would never tick: give a rate above 0, or drop it to run as fast as possible")
    if args.max_ticks is not None and args.steps is not None:
        raise BadParameterError("--max-ticks limits --until-done: with --steps N the run takes exactly N ticks")
    if args.workers is not None and args.runs is None:
        raise BadParameterError("--workers spreads the runs of an ensemble: add --runs R")
    if args.runs is not None and (args.checkpoint_every is not None or args.checkpoint_seconds is not None):
        flag = "--checkpoint-every" if args.checkpoint_every is not None else "--checkpoint-seconds"
        raise BadParameterError(f"{flag} checkpoints a persisted run: with --runs the world file is not modified")
    check_outputs(args)


def check_outputs(args: argparse.Namespace) -> None:
    """Check ``--series``, ``--plot`` and ``--force`` (of ``run`` and ``sweep``) before any work.

    Raises:
        BadParameterError / TargetExistsError: an unknown extension, Parquet without its extra, an
            existing file without ``--force``, or ``--force`` with neither file.
    """
    if args.force and not (args.series or args.plot):
        raise BadParameterError("--force overwrites the --series and --plot files: give one of them")
    from sim.store.worldfile import check_target

    if args.series:
        from sim.store.seriesio import check_series_path

        check_target(args.series, args.force, what="series file")
        check_series_path(args.series)
    if args.plot:
        from sim.analysis.plot import check_figure_path

        check_target(args.plot, args.force, what="figure")
        check_figure_path(args.plot)


def write_outputs(args: argparse.Namespace, result: dict[str, Any], records: list[dict[str, Any]],
                  keys: list[str], title: str) -> None:
    """Write the ``--series`` file and draw the ``--plot`` figure of a run or sweep; note them in ``result``."""
    if args.series:
        from sim.store.seriesio import write_series

        result["series_file"] = {"path": os.path.abspath(args.series), "rows": write_series(args.series, records, keys)}
    if args.plot:
        from sim.analysis.plot import plot_tables
        from sim.store.seriesio import table_from_records

        label = os.path.basename(args.world)
        result["plot"] = plot_tables([(label, table_from_records(records, keys, source=args.world))], args.plot, title=title)


async def _run_command(args: argparse.Namespace, params: dict[str, Any], llm: Any, registry: Any, monitor: Any) -> int:
    from sim.cli.progress import stderr_progress
    from sim.engine.runner import run_cascades
    from sim.store.worldfile import open_world
    from sim.store.writer import WorldWriter

    world = await open_world(args.world)
    from sim.cli.llm import refuse_unused_llm
    from sim.llm.config import LLMConfig

    refuse_unused_llm(args, LLMConfig.resolve(world.config.get("llm"), llm), command="run")
    changes = _social_changes(args)
    if changes:  # validate before anything is written
        from sim.social.dynamics import Social

        _check_social_params(Social(world, registry).configure(**changes), changes)
    writer = None
    if args.runs is None:
        writer = await WorldWriter(args.world).start()
    max_ticks = 10_000 if args.max_ticks is None else args.max_ticks
    try:
        with stderr_progress() as progress:
            result = await run_cascades(
                world, registry=registry, text=args.inject, topics=args.topic, seeds=args.seeds or "random:10",
                model=args.model or "ic", params=params, runs=args.runs, seed=args.seed or 0, steps=args.steps,
                until_done=args.until_done, max_ticks=max_ticks, priority=args.priority or 0, writer=writer,
                progress=progress, social=_social_changes(args), llm=llm, llm_wait=args.llm_wait, author=args.author,
                monitor=monitor, ticks_per_second=args.ticks_per_second or None, plugin_budget=args.plugin_budget,
                checkpoint_every=50 if args.checkpoint_every is None else args.checkpoint_every,
                checkpoint_seconds=args.checkpoint_seconds or None, workers=args.workers,
            )
        if writer is not None:
            from sim.core.audit import public_settings

            writer.submit_audit("run", {
                "ticks": sum(int(r.get("ticks", 0)) for r in result["runs"]), "tick": world.tick,
                "steps": args.steps, "until_done": bool(args.until_done), "session": result["runs"][0].get("session"),
                "social": changes, "llm": public_settings(llm), "model": result["model"] if args.inject is not None else None,
            })
    finally:
        if writer is not None:
            await writer.close()
    stopped = [r for r in result["runs"] if r.get("status") == "max-ticks"]
    if stopped:
        sys.stderr.write(f"agora: note: {len(stopped)} of {len(result['runs'])} run{'s' if len(result['runs']) != 1 else ''} "
                         f"stopped at --max-ticks {max_ticks} before the model ended (status max-ticks)\n")
    # A failed run is no result: its series stays in the JSON (how far it got) but not in files or figures.
    records = [{"keys": {}, "run": i, "series": r["series"]} for i, r in enumerate(result["runs"])
               if "series" in r and r.get("status") != "failed"]
    runs = f"{len(records)} run{'s' if len(records) != 1 else ''}"
    if records or not (args.series or args.plot):
        write_outputs(args, result, records, [], f"{result['model']} on {os.path.basename(args.world)}, {runs}")
    else:
        sys.stderr.write("agora: note: no run completed, so no --series file or --plot figure was written\n")
    if not args.json:
        for r in result["runs"]:
            r.pop("new_per_tick", None)
    _emit(args, result, format_run(result))
    return report_failures(result)


def report_failures(result: dict[str, Any]) -> int:
    """Say on stderr what failed in a run report (the first failed run's traceback, the recommenders
    switched off in a persisted run) and return the exit code: 3 when something failed, else 0."""
    failed = result.get("failed") or 0
    switched_off = [e for r in result["runs"] for e in r.get("recommender_errors") or []]
    first = result.get("first_failure")
    if failed and first is not None:
        total = result["completed"] + failed
        sys.stderr.write(f"agora: {failed} of {total} run{'s' if total != 1 else ''} failed; the first, run {first['run']} "
                         f"(seed {first['seed']}): {shown_line(first['error'])}\n")
        if first.get("traceback"):
            sys.stderr.write(_indented(first["traceback"]) + "\n")
    for e in switched_off:
        what = "friend recommender" if e["role"] == "friend" else "recommender"
        sys.stderr.write(f"agora: {what} {shown_line(e['recommender'])} failed and was switched off; the run went on "
                         f"without it: {shown_line(e['error'])}\n")
        if e.get("traceback"):
            sys.stderr.write(_indented(e["traceback"]) + "\n")
    return EXIT_FAILED if failed or switched_off else 0


def shown_line(text: Any) -> str:
    """Plugin text made safe for a terminal line (control characters escaped, one line, bounded)."""
    from sim.core.safe import shown

    return shown(str(text), 500)


def _indented(tb: str) -> str:
    from sim.core.safe import shown

    return "\n".join("  " + shown(ln, 500) for ln in tb.splitlines()[:60])


def format_run(result: dict[str, Any]) -> str:
    """The plain-text report of ``agora run``: one table row per run, then the summary lines."""
    from sim.cli.textable import render_table

    n = result["agents"]
    lines = []
    runs = [r for r in result["runs"] if "status" in r]
    if runs:
        living = result["social"]["living"]
        head = ["run", "seed", "status", "reached", "share", "busiest tick", "ticks"]
        head += ["via graph", "via feeds"] if living else []
        rows = []
        for i, r in enumerate(runs):
            ok = r["status"] != "failed"
            row = [i, r["seed"], r["status"], f"{r['reached']:,}" if ok else "-",
                   f"{100 * r['reached'] / n:.1f}%" if ok and n else "-",
                   "-" if r.get("peak_tick") is None else r["peak_tick"], r["ticks"]]
            row += [f"{r['graph_reached']:,}", f"{r['feed_reached']:,}"] if living else []
            rows.append(row)
        numeric = [0, 1, 3, 4, 5, 6, 7, 8]
        title = f"model {result['model']} {_params_text(result['params'])}, seeds {result['seeds']}, {n:,} agents"
        lines.append(render_table(head, rows, title=title, numeric=numeric))
        lines.append("busiest tick: ticks from the seeding to the one with the most new adoptions (peak_tick in --json); "
                     "not the peak of a state curve such as I in SIR: see --series")
    else:
        lines.append(f"ran {sum(r['ticks'] for r in result['runs'])} ticks")
    failed = result.get("failed") or 0
    if failed:
        first = result["first_failure"]
        where = f" at {shown_line(first['where'])}" if first.get("where") else ""
        if len(runs) == 1:
            lines.append(f"the run failed: {shown_line(first['error'])}{where}")
        else:
            lines.append(f"{failed} of {len(runs)} runs failed and are left out of every figure below; the first, run "
                         f"{first['run']} (seed {first['seed']}): {shown_line(first['error'])}{where}")
    if len(runs) > 1:
        if result["mean_reached"] is not None:
            lo, hi = result["ci95"]
            of = f" over the {result['completed']} completed runs" if failed else ""
            lines.append(f"mean reached {result['mean_reached']:,.1f}  (95% CI {lo:,.1f} .. {hi:,.1f}){of}")
        else:
            lines.append("mean reached: none (no run completed)")
    for r in runs:
        for e in r.get("recommender_errors") or []:
            what = "friend recommender" if e["role"] == "friend" else "recommender"
            where = f" at {shown_line(e['where'])}" if e.get("where") else ""
            lines.append(f"{what} {shown_line(e['recommender'])} failed and was switched off; the run went on without "
                         f"it: {shown_line(e['error'])}{where}")
    if result["social"]["living"]:
        soc = result["social"]
        off = soc.get("errors") or {}
        feeds = f"{soc['recommender']}{' (failed, switched off)' if soc['recommender'] in off else ''}"
        friends = f"{soc['friend_recommender']}{' (failed, switched off)' if 'friend:' + str(soc['friend_recommender']) in off else ''}"
        lines.append(f"living network: feeds {feeds}, friends {friends}; "
                     f"follows {soc['follows']:,}, unfollows {soc['unfollows']:,}, joins {soc['joins']:,}, leaves {soc['leaves']:,}")
    st = result["llm"]
    lines.append(f"LLM {st['mode']} ({st['model']}): {st['calls']:,} calls, {st['cache_hits']:,} from cache, "
                 f"{st['fallbacks']:,} fallbacks, {st['tokens_in'] + st['tokens_out']:,} tokens (${st['cost_usd']:.4f}); "
                 f"{st['posts']:,} posts written")
    if "series_file" in result:
        lines.append(f"series: {result['series_file']['rows']:,} rows written to {result['series_file']['path']}")
    if "plot" in result:
        lines.append(f"figure: {result['plot']['output']}")
    lines.append("world file updated" if result["persisted"] else "world file not modified")
    return "\n".join(lines)


def _params_text(params: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return f"{v:g}" if isinstance(v, float) else str(v)

    return " ".join(f"{k}={value(v)}" for k, v in params.items())


def _delegate(module: str) -> Callable[[argparse.Namespace], Any]:
    """The handler of a command group that lives in ``sim.cli.<module>`` (imported when it runs, so the
    start of every other command does not pay for it)."""

    def handle(args: argparse.Namespace) -> Any:
        return importlib.import_module(f"sim.cli.{module}").handle(args)

    handle.__name__ = f"_cmd_{module}"
    return handle


_cmd_analysis = _delegate("analysis")
_cmd_llm = _delegate("llm")
_cmd_audit = _delegate("audit")
_cmd_check = _delegate("check")
_cmd_serve = _delegate("serve")
_cmd_sweep = _delegate("sweep")
_cmd_plot = _delegate("plot")
_cmd_plugins = _delegate("plugins")


def _cmd_topics(args: argparse.Namespace) -> int:
    from sim.core.topics import TOPICS

    _emit(args, {"topics": list(TOPICS)}, "\n".join(f"{i:>2}  {t}" for i, t in enumerate(TOPICS)))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from sim.bench.engine import bench_propagation, bench_world

    if args.bench == "analysis":
        from sim.cli.analysis import handle

        return handle(args)
    if args.bench == "tui":
        result = importlib.import_module("tui.bench").bench_tui(args.agents, sessions=args.sessions)
        _emit(args, result, "\n".join(f"{k:<36}{v}" for k, v in result.items() if not isinstance(v, dict)))
        return 0

    if args.bench == "api":
        from sim.bench.api import bench_api

        result = bench_api(args.agents, requests=args.requests)
        lines = [f"{k:<28}median {v['ms_median']:>8.3f} ms  p90 {v['ms_p90']:>8.3f} ms  {v['requests_per_second']} requests/s"
                 for k, v in result.items() if isinstance(v, dict)]
        lines.append(f"keep-alive under {result['target_ms']} ms: {result['agora_keepalive_within_target']}")
        _emit(args, result, "\n".join(lines))
        return 0
    if args.bench in ("llm", "memory"):
        from sim.cli import llm as cli_llm

        return cli_llm.handle(args)
    if args.bench == "social":
        from sim.bench.social import bench_social
        from sim.cli.progress import stderr_progress

        with stderr_progress() as progress:
            result = bench_social(args.agents, avg_degree=args.avg_degree, online=args.online, k=args.k, ticks=args.ticks,
                                  messages=args.messages, seed=args.seed, progress=progress)
        lines = [f"{kind} {name:<24} median {r['ms_median']:>8.1f} ms  max {r['ms_max']:>8.1f} ms  target {r['target_ms']:.0f} ms"
                 for kind in ("content", "friends") for name, r in result[kind].items()]
        lines += [f"merge {result['merge']['ms']:.0f} ms every {result['merge']['merge_every']} ticks",
                  f"peak RSS {result['peak_rss_mb']:.0f} MB", f"all within targets: {result['all_within_targets']}"]
        _emit(args, result, "\n".join(lines))
        return 0
    if args.bench == "commands":
        from sim.bench.commands import bench_commands
        from sim.cli.progress import stderr_progress

        with stderr_progress() as progress:
            result = bench_commands(args.agents, avg_degree=args.avg_degree, seed=args.seed, repeats=args.repeats,
                                    folder=args.dir, analysis=not args.no_analysis, progress=progress)
        lines = [f"{k:<10}{v['seconds_median']:>9.2f} s  (target {v['target_seconds']} s; yardstick {v['yardstick']['seconds_median']:.2f} s, "
                 f"ratio {v['ratio_to_yardstick']}); peak RSS {v['peak_rss_mb_max']:.0f} MB" for k, v in result["commands"].items()]
        _emit(args, result, "\n".join(lines + [f"all within targets: {result['all_within_targets']}"]))
        return 0
    if args.bench == "models":
        from sim.bench.models import bench_models
        from sim.cli.progress import stderr_progress

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
        _emit(args, result, "\n".join(lines))
        return 0
    if args.bench == "series":
        from sim.bench.engine import bench_series
        from sim.cli.progress import stderr_progress

        with stderr_progress() as progress:
            result = bench_series(args.agents, avg_degree=args.avg_degree, seed=args.seed, repeats=args.repeats,
                                  progress=progress)
        lines = [f"{name:<6} {m['ticks']} ticks, reached {m['reached']:,}: recording {100 * m['recording_share_median']:.2f}% "
                 f"of the session's time; {1000 * m['seconds_median']:.1f} ms recorded, "
                 f"{1000 * m['baseline_seconds_median']:.1f} ms not (difference {100 * m['overhead']:+.2f}%)"
                 for name, m in result["models"].items()]
        lines += [f"peak RSS {result['peak_rss_mb']:.0f} MB", f"within the 5% target: {result['within_target']}"]
        _emit(args, result, "\n".join(lines))
        return 0
    if args.bench == "propagation":
        result = bench_propagation(args.agents, avg_degree=args.avg_degree, p=args.p, seed=args.seed, ndlib_agents=args.ndlib_agents)
    else:
        from sim.cli.progress import stderr_progress

        with stderr_progress() as progress:
            result = bench_world(args.agents, avg_degree=args.avg_degree, seed=args.seed, folder=args.dir, progress=progress,
                                 analyse=not args.no_analysis, run_ticks=max(0, args.run_ticks))
    text = "\n".join(f"{k:<28}{v}" for k, v in result.items() if not isinstance(v, dict))
    _emit(args, result, text)
    return 0


def _cmd_tui(args: argparse.Namespace) -> int:
    import importlib

    from sim.store.create import ensure_default_world
    from sim.cli.progress import stderr_progress
    from sim.store.worldfile import read_meta, world_info

    world = getattr(args, "world", None)
    plugins = getattr(args, "plugins", [])
    _check_metrics_options(args)
    terminal = (sys.stdin.isatty() and sys.stdout.isatty()) or bool(os.environ.get("AGORA_FORCE_TUI"))
    if not terminal:  # before the default world is created: options only the running UI would use are refused
        for flag, value in (("--plugins", plugins or None), ("--metrics-port", getattr(args, "metrics_port", None)),
                            ("--checkpoint-every", getattr(args, "checkpoint_every", None)),
                            ("--checkpoint-seconds", getattr(args, "checkpoint_seconds", None))):
            if value is not None:
                raise BadParameterError(f"{flag} applies to the running terminal UI, and there is no terminal here: "
                                        f"run one headless with 'agora run WORLD --steps N {flag} ...'")
    for d in plugins:
        if not os.path.isdir(d):
            raise BadParameterError(f"plugin folder {d!r} does not exist: give a folder of .py plugin files")
    if world is None:
        with stderr_progress() as progress:
            world = asyncio.run(ensure_default_world(progress=progress))
    else:
        read_meta(world)  # a clear error for a missing or foreign file, before the screen switches
    if not terminal:
        info = world_info(world)
        _emit(args, info, _describe(info) + "\n\n(no terminal: the UI needs one; this is the world it would open)")
        return 0
    # The UI is the one place the core hands over to textual; it is imported only here.
    importlib.import_module("tui.app").run_app(world, plugin_dirs=plugins, metrics_port=getattr(args, "metrics_port", None),
                                               metrics_host=args.metrics_host,
                                               checkpoint_every=50 if getattr(args, "checkpoint_every", None) is None
                                               else args.checkpoint_every,
                                               checkpoint_seconds=getattr(args, "checkpoint_seconds", None) or None)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``agora`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "new": _cmd_new, "info": _cmd_info, "agent": _cmd_agent, "save": _cmd_save, "load": _cmd_load,
        "topics": _cmd_topics, "bench": _cmd_bench, "run": _cmd_run, "tui": _cmd_tui, None: _cmd_tui,
        "plugins": _cmd_plugins, "social": _cmd_social, "interview": _cmd_llm, "llm": _cmd_llm, "sweep": _cmd_sweep, "check": _cmd_check, "analyze": _cmd_analysis, "export": _cmd_analysis, "path": _cmd_analysis,
        "audit": _cmd_audit, "plot": _cmd_plot, "serve": _cmd_serve,
    }
    handler = handlers[args.command]
    if hasattr(signal, "SIGUSR1"):  # kill -USR1 PID prints every thread's stack: what a hung run waits on
        import faulthandler

        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (OSError, ValueError, AttributeError):  # stderr is not a file (captured): no dump then
            pass
    try:
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except AgoraError as exc:
        from sim.core.safe import shown

        sys.stderr.write(f"agora: error: {shown(exc, 2000)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("agora: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
