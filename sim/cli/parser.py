"""Every command, flag and help text of ``agora``: the parser, built without importing any command's
implementation, so that ``agora --help`` and a usage mistake answer at once.

A command's flags are declared here and its work is done by its module (``sim.cli.world``, ``run``,
``bench``, ``analysis``, ``audit``, ``cascades``, ``seeds``, ``set``, ``check``, ``llm``, ``plot``, ``plugins``,
``serve``, ``sweep``); ``sim.cli.main`` dispatches to them. Packages add commands through the ``agora.commands``
entry-point group (:class:`CommandGroup`): the terminal UI registers ``agora tui`` and ``agora bench tui`` so.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any, Protocol

from sim import __version__
from sim.cli.args import (
    Parser,
    checkpoint_arguments,
    fraction,
    host_name,
    integer,
    llm_arguments,
    metrics_arguments,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    positive_seconds,
    social_arguments,
)
from sim.core.audit import ACTIONS

#: ``--kernel``'s choices: :data:`sim.engine.requests.KERNELS`, written out so that ``agora --help`` does not load
#: the engine (tests/test_cli.py checks that the two agree).
KERNELS = ("auto", "batched", "engine")

#: The commands ``sim.cli`` itself defines (a command group's come from its entry point).
BUILTIN_COMMANDS = (
    "new",
    "info",
    "agent",
    "save",
    "load",
    "run",
    "social",
    "topics",
    "bench",
    "plugins",
    "sweep",
    "plot",
    "cascades",
    "seeds",
    "set",
    "check",
    "analyze",
    "export",
    "path",
    "interview",
    "llm",
    "audit",
    "serve",
)

#: The templates of ``agora plugins new --template``: ``sim.authoring.templates.TEMPLATES``, named here because
#: that module reads the built-in plugins (numpy and all), which ``agora --help`` must not load; a test
#: holds the two equal.
PLUGIN_TEMPLATES = ("cascade", "compartmental", "opinion", "network", "recommender", "friend-recommender")

#: Community detection methods of ``agora analyze --method``.
METHOD_CHOICES = ("leiden", "louvain", "label-propagation")

#: The examples under ``agora plot --help``.
_PLOT_EXAMPLES = """examples:
  agora run saves/w.db --until-done --inject x --model sir --runs 20 --series sir.csv && agora plot sir.csv -o sir.png --measure I
  agora plot sweep.csv.gz -o sweep.svg --measure reached --title "reach by p"
  agora plot ic.csv sir.csv -o both.pdf --measure reached     (two files overlaid, labels prefixed by file name)
  agora plot runs.csv -o tree.png --measure depth --measure breadth   (the cascade's depth and breadth over time)
  agora sweep saves/w.db --grid model=ic,sir --seeds random:1 --runs 100 --cascades trees.csv.gz && agora plot trees.csv.gz -o trees.png

Each line is the mean over the runs of one combination (one per sweep combination), with its 95% band
(clipped to 0..agents for counts). Runs that ended early keep their last value; 'new' is 0 after the end.
A cascades file (--cascades) is drawn as the size CCDF on log-log axes, one line per combination, beside
structural virality against size, one point per run; a --ccdf file as the CCDF alone."""  # noqa: E501


class CommandGroup(Protocol):
    """Commands a package registers in the ``agora.commands`` entry-point group: the entry point names a
    module (or object) with these members. ``tui.commands`` is one."""

    #: The top-level commands :meth:`add_commands` adds (the group that adds ``tui`` also runs a bare ``agora``).
    COMMANDS: tuple[str, ...]
    #: The ``agora bench`` benchmarks :meth:`add_bench_commands` adds.
    BENCHMARKS: tuple[str, ...]

    def add_commands(self, sub: Any) -> None:
        """Add the top-level commands to ``sub`` (what ``add_subparsers`` returned)."""

    def add_bench_commands(self, bsub: Any) -> None:
        """Add the benchmarks to the ``bench`` subparsers."""

    def handle(self, args: argparse.Namespace) -> Any:
        """Run one of its commands; an int (the exit code) or a coroutine that ``main`` runs."""


def _sizes(text: str) -> tuple[int, ...]:
    """``N,N,...`` world sizes (positive), or ``none``."""
    if text.strip().lower() == "none":
        return ()
    try:
        sizes = tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of sizes: give e.g. 100000,1000000 or none") from None
    if not sizes or any(n < 1 or n > 100_000_000 for n in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: each size must be from 1 to 100,000,000 agents")
    return sizes


def _world_size(p: Any) -> None:
    """The synthetic world's size flags a benchmark shares: ``--agents`` and ``--avg-degree``."""
    p.add_argument("--agents", type=positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    p.add_argument(
        "--avg-degree", type=non_negative_float, default=10.0, metavar="K", help="mean neighbours (default 10)"
    )


def build_parser(groups: Sequence[CommandGroup] = ()) -> argparse.ArgumentParser:
    """The ``agora`` parser, with the commands of the entry-point ``groups`` in their places."""
    p = Parser(
        prog="agora",
        description="Agora: simulate information spreading through social networks of up to millions of agents.",
        epilog="With no command, agora opens the default world (created in ./saves on first use).\n\n"
        "exit codes:\n"
        "  0  done, and every run completed (a cascade that reached nobody is a completed run)\n"
        "  2  bad input: one sentence on stderr says what and how to fix it; nothing was changed\n"
        "  3  the command finished, but some runs, sweep arms or recommenders failed: their plugin's\n"
        "     error and traceback are on stderr, and every statistic leaves the failed runs out; or a\n"
        "     seed method's code raised before any run (its error and its frames on stderr)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"agora {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    new = sub.add_parser(
        "new",
        help="create a world (synthetic graph or imported edge list)",
        description="Create a world file: a synthetic graph (--agents) or a real edge list (--edges).",
    )
    new.add_argument("world", metavar="WORLD", help="path of the world file to create (e.g. saves/mine.db)")
    src = new.add_mutually_exclusive_group(required=True)
    src.add_argument("--agents", type=positive_int, metavar="N", help="number of agents of a synthetic world")
    src.add_argument(
        "--edges",
        metavar="FILE",
        help="import an edge list: SNAP 'u v' lines or CSV 'source,target[,weight]', optionally .gz",
    )
    new.add_argument(
        "--graph",
        choices=("community", "ba", "er", "sbm"),
        default=None,
        help="synthetic graph model (default: community — planted heavy-tailed communities)",
    )
    new.add_argument(
        "--avg-degree",
        type=non_negative_float,
        default=None,
        metavar="K",
        help="mean number of neighbours; the world gets about N*K directed edges (default 10)",
    )
    new.add_argument(
        "--communities",
        type=positive_int,
        metavar="C",
        help="planted communities (community, sbm; default about sqrt(N)/2)",
    )
    new.add_argument(
        "--mixing",
        type=fraction,
        default=None,
        metavar="MU",
        help="share of links leaving a community, 0..1 (default 0.2)",
    )
    new.add_argument(
        "--directed",
        action="store_true",
        help="with --edges: keep lines as given (u v means v follows u) instead of both directions",
    )
    new.add_argument("--seed", type=integer, default=0, help="seed for everything random (default 0)")
    new.add_argument(
        "--minutes-per-tick",
        type=positive_int,
        default=10,
        metavar="M",
        help="simulated minutes per tick; agents are online by their hourly activity profile (default 10)",
    )
    new.add_argument("--name", help="display name of the world (default: the file name)")
    new.add_argument(
        "--reserve",
        type=fraction,
        default=0.0,
        metavar="F",
        help="share of agents created but not joined yet (they join during runs at the social setting join_rate; "
        "default 0)",
    )
    social_arguments(new, "the world's default")
    new.add_argument("--force", action="store_true", help="overwrite WORLD if it exists")
    new.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    info = sub.add_parser("info", help="describe a world file", description="Describe a world file.")
    info.add_argument("world", metavar="WORLD")
    info.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    agent = sub.add_parser(
        "agent",
        help="show one agent",
        description="Show one agent of a world by its original id, "
        "with what it remembers when the LLM speaks for it: its recent events (the short-term window, "
        "'agora llm WORLD --set memory_window=K'), the summary of its older ones and the size of its memory.",
    )
    agent.add_argument("world", metavar="WORLD")
    agent.add_argument("id", type=integer, metavar="ID", help="the agent's original id")
    agent.add_argument(
        "--memory",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="recent memories to list (default: the world's memory_window)",
    )
    agent.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    save = sub.add_parser(
        "save",
        help="save a world file as a snapshot",
        description="Write a world to a snapshot file (.snap): the whole world, every session's adoption events "
        "and feed exposures included (--slim leaves those out).",
    )
    save.add_argument("world", metavar="WORLD")
    save.add_argument("snapshot", metavar="SNAPSHOT")
    save.add_argument("--force", action="store_true", help="overwrite SNAPSHOT if it exists")
    save.add_argument(
        "--slim",
        action="store_true",
        help="leave out the adoption events and feed exposures (the events table) for a smaller, faster "
        "file; a world loaded from it keeps its state but its events start at the snapshot's tick",
    )
    save.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    load = sub.add_parser(
        "load",
        help="restore a snapshot into a world file",
        description="Create a world file from a snapshot, its adoption events and feed exposures included "
        "(unless it was saved with --slim).",
    )
    load.add_argument("snapshot", metavar="SNAPSHOT")
    load.add_argument("world", metavar="WORLD")
    load.add_argument("--force", action="store_true", help="overwrite WORLD if it exists")
    load.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    run = sub.add_parser(
        "run",
        help="run the simulation headless (optionally injecting a message)",
        description="Run a world headless. With --inject, a message spreads under --model from --seeds. "
        "Without --runs the run is persisted into the world; with --runs R the same cascade is repeated "
        "R times from the same starting world with seeds S, S+1, ... and the world file is not modified.",
    )
    run.add_argument("world", metavar="WORLD")
    length = run.add_mutually_exclusive_group(required=True)
    length.add_argument(
        "--steps",
        type=positive_int,
        metavar="N",
        help="run N ticks; an injected message's session seeds in the first, so N ticks give it N-1 "
        "propagation rounds (each run's 'rounds' in --json)",
    )
    length.add_argument("--until-done", action="store_true", help="run until every session has finished")
    run.add_argument(
        "--max-ticks", type=positive_int, metavar="N", help="stop --until-done after N ticks (default 10000)"
    )
    run.add_argument("--inject", metavar="TEXT", help="text of a message to inject before running")
    run.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="T",
        help="a topic of the message (repeatable; see 'agora topics')",
    )
    run.add_argument(
        "--author",
        type=integer,
        metavar="ID",
        help="the message's author (original id); with --inject '' the author writes it",
    )
    run.add_argument(
        "--seeds",
        metavar="SPEC",
        help="random:K, top:K, ids:a,b,c, community:C:K, file:PATH (original agent "
        "ids, one a line; # comments), METHOD:K, a seed method (degree:50, ris:50; agora seeds), or none "
        "(no seed: a model that starts from the world's values, set with agora set) (default random:10)",
    )
    run.add_argument(
        "--intervene",
        action="append",
        default=[],
        metavar="[TICK:]ACTION",
        help="change the world during each run: block:METHOD:K (K agents, chosen by a seed method or random:K, "
        "become immune), counter:MODEL:SEEDS[:TEXT] (a competing message), remove-edges:FRACTION"
        "[:random|between]; TICK counts ticks from the injection, without it 0, the injection's tick: "
        "5:block:degree:100 (repeatable)",
    )
    run.add_argument("--model", metavar="NAME", help="propagation model (default ic; see 'agora plugins list')")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a model parameter (repeatable)")
    run.add_argument("--priority", type=integer, help="scheduling priority of the session (higher first; default 0)")
    run.add_argument(
        "--runs", type=positive_int, metavar="R", help="repeat the cascade R times without modifying the world"
    )
    run.add_argument("--seed", type=integer, help="session seed (run r uses S+r; default 0)")
    run.add_argument(
        "--workers",
        type=positive_int,
        metavar="W",
        help="with --runs: spread the runs over W processes forked from this one (Linux; default: one per "
        "CPU, at most one per run); every run's result is the same whatever W",
    )
    run.add_argument(
        "--kernel",
        choices=KERNELS,
        help="with --runs: 'batched' computes the runs in a compiled kernel (the built-in ic, lt and sir where "
        "nothing else moves: no living network, feeds, interventions or --cascades); an ic or sir run is then the "
        "engine's run of its seed, field for field, an lt run draws its thresholds its own way (the same law); "
        "'engine' ticks every run through the engine; 'auto' (default) batches where it can, ic and sir from 100 "
        "runs (below, loading the kernel, about a second, costs more than it saves); --json says which ran in "
        "'kernel'",
    )
    run.add_argument(
        "--series",
        metavar="FILE",
        help="write the per-tick series of every run (agents in each state, reached, "
        "new) in long format run,tick,measure,value: .csv, .csv.gz or .parquet (pip install 'agora-sim[parquet]')",
    )
    run.add_argument(
        "--plot", metavar="FILE", help="draw the series after the run (.png, .svg or .pdf; see 'agora plot')"
    )
    run.add_argument(
        "--cascades",
        metavar="FILE",
        help="write the adoption forest of every run, one row per agent: run,agent,source,tick,generation "
        "(original ids; a root's source is empty): .csv, .csv.gz or .parquet (see 'agora cascades')",
    )
    run.add_argument(
        "--ccdf",
        metavar="FILE",
        help="with --runs: write the distribution of the runs' cascade sizes as a complementary CDF, "
        "size,ccdf (P(S >= size)): .csv, .csv.gz or .parquet",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="overwrite the --series, --plot, --cascades and --ccdf files if they exist",
    )
    run.add_argument(
        "--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)"
    )
    social_arguments(run, "for this run (default: the world's setting)")
    llm_arguments(run)
    run.add_argument(
        "--llm-wait",
        type=non_negative_float,
        default=30.0,
        metavar="S",
        help="at the end, wait up to S seconds for LLM answers still in flight (default 30; the rest fall back)",
    )
    run.add_argument(
        "--ticks-per-second",
        type=non_negative_float,
        metavar="X",
        help="pace the run at X ticks per second (default: as fast as possible)",
    )
    run.add_argument(
        "--plugin-budget",
        type=non_negative_float,
        metavar="S",
        help="seconds one plugin call (a model's step, start or is_done, a recommender's scoring) may take "
        "before its session fails or the recommender is switched off (default: $AGORA_PLUGIN_BUDGET, else 10; 0: none)",
    )
    checkpoint_arguments(run)
    metrics_arguments(run)
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    social = sub.add_parser(
        "social",
        help="show or change a world's living-network settings",
        description="Show a world's living-network settings (content and friend recommenders, feed size, "
        "churn, trust and reputation rates) or change them with the flags below. Changes are validated and "
        "written to the world file; 'agora run' flags override them for one run.",
    )
    social.add_argument("world", metavar="WORLD")
    social_arguments(social, "the world's default")
    social.add_argument(
        "--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)"
    )
    social.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    for group in groups:  # agora tui
        group.add_commands(sub)

    topics = sub.add_parser(
        "topics", help="list the 64 topics", description="List the topics agents and messages can have."
    )
    topics.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bench = sub.add_parser(
        "bench",
        help="run a benchmark and print its figures",
        description="Benchmarks print JSON with a baseline measured in the same run.",
    )
    bsub = bench.add_subparsers(dest="bench", metavar="BENCHMARK", parser_class=Parser, required=True)
    bw = bsub.add_parser(
        "world",
        help="generate, persist, open, snapshot save and load",
        description="World benchmark: generation, persistence, opening, PageRank, a headless cascade, snapshots and "
        "peak RSS.",
    )
    _world_size(bw)
    bw.add_argument("--seed", type=integer, default=1)
    bw.add_argument("--dir", metavar="DIR", help="folder for the temporary files (default: a temporary folder)")
    bw.add_argument(
        "--run-ticks",
        type=non_negative_int,
        default=30,
        metavar="T",
        help="ticks of the headless ic cascade at most (default 30; 0 skips the run)",
    )
    bw.add_argument("--no-analysis", action="store_true", help="skip the PageRank measurement")
    bw.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bp = bsub.add_parser(
        "propagation",
        help="independent-cascade throughput vs a numpy kernel; concurrent sessions; NDlib",
        description="Propagation benchmark: a full ic cascade against a plain numpy frontier kernel measured in "
        "the same run, one tick with 10 concurrent sessions, and NDlib on 100,000 agents when installed.",
    )
    _world_size(bp)
    bp.add_argument("--p", type=fraction, default=0.3, help="ic probability of the large outbreak (default 0.3)")
    bp.add_argument(
        "--ndlib-agents", type=positive_int, default=100_000, metavar="N", help="graph size for the NDlib comparison"
    )
    bp.add_argument(
        "--yardstick-sizes",
        type=_sizes,
        default=(100_000, 1_000_000),
        metavar="N,N",
        help="world sizes at which ic, lt and sir ensembles are timed beside CyNetDiff and the numpy kernel "
        "(default 100000,1000000; 'none' skips them)",
    )
    bp.add_argument(
        "--yardstick-runs", type=positive_int, default=20, metavar="R", help="cascades per ensemble (default 20)"
    )
    bp.add_argument(
        "--small-runs",
        type=non_negative_int,
        default=1000,
        metavar="R",
        help="runs of 'agora run --runs' on ego-Facebook, timed with start-up (default 1000; 0 skips it)",
    )
    bp.add_argument("--seed", type=integer, default=1)
    bp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    for group in groups:  # agora bench tui
        group.add_bench_commands(bsub)

    bser = bsub.add_parser(
        "series",
        help="what recording the per-tick series costs in a cascade",
        description="Series benchmark: the same ic and sir cascades (same seeds, same trajectory) with "
        "the per-tick series recorded and not, alternating, on a world of N agents; medians and the overhead.",
    )
    _world_size(bser)
    bser.add_argument(
        "--repeats",
        type=positive_int,
        default=5,
        metavar="R",
        help="runs with and without recording per model (default 5)",
    )
    bser.add_argument("--seed", type=integer, default=1)
    bser.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bc = bsub.add_parser(
        "cascade",
        help="what keeping and measuring the cascade tree costs a run",
        description="Cascade benchmark: the same ic cascade (same seeds, same trajectory) with the adoption "
        "forest kept and measured, and without, alternating, on a world of N agents; medians, the cost measured "
        "inside the run as a share of the run without the forest, and the 10%% target.",
    )
    _world_size(bc)
    bc.add_argument(
        "--p", type=fraction, default=0.17, help="ic probability (default 0.17: about 58%% reached at 1M agents)"
    )
    bc.add_argument(
        "--repeats", type=positive_int, default=5, metavar="R", help="runs with and without the forest (default 5)"
    )
    bc.add_argument("--seed", type=integer, default=1)
    bc.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bsd = bsub.add_parser(
        "seeds",
        help="ris (IMM) choosing K seeds on a large world, beside the degree heuristic and a plain ic run",
        description="Seeds benchmark: K seeds for ic chosen by ris (IMM) and by the degree heuristic, alternating, "
        "on a world of N agents, and plain ic runs from each choice; medians, the ratios, ris's RR sets and the "
        "peak memory of its choice (tracemalloc), against the 60 s and 1.5 GiB targets.",
    )
    _world_size(bsd)
    bsd.add_argument("--p", type=fraction, default=0.01, help="ic probability (default 0.01)")
    bsd.add_argument("--k", type=positive_int, default=50, help="seeds to choose (default 50)")
    bsd.add_argument("--epsilon", type=positive_float, default=0.1, metavar="E", help="IMM's epsilon (default 0.1)")
    bsd.add_argument("--repeats", type=positive_int, default=3, metavar="R", help="choices by each method (default 3)")
    bsd.add_argument(
        "--runs", type=positive_int, default=30, metavar="R", help="ic runs from each method's seeds (default 30)"
    )
    bsd.add_argument("--seed", type=integer, default=1)
    bsd.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bm = bsub.add_parser(
        "models",
        help="every built-in model's tick at 1M agents, and NDlib beside it at 100k",
        description="Models benchmark: one busy session of every built-in propagation model on a world of "
        "N agents (whole-tick milliseconds, median and maximum, against the 0.5 s target), and where NDlib "
        "has the model, Agora and NDlib on a world of --ndlib-agents agents (agent updates per second and "
        "the speedup). NDlib is optional: pip install 'agora-sim[bench]'.",
    )
    _world_size(bm)
    bm.add_argument("--ticks", type=positive_int, default=10, metavar="T", help="rounds timed per model (default 10)")
    bm.add_argument(
        "--ndlib-agents",
        type=non_negative_int,
        default=100_000,
        metavar="N",
        help="agents of the NDlib comparison (default 100,000; 0 skips it)",
    )
    bm.add_argument("--model", action="append", default=[], metavar="NAME", help="only this model (repeatable)")
    bm.add_argument("--seed", type=integer, default=1)
    bm.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bc = bsub.add_parser(
        "commands",
        help="agora new, save, load and analyze --all as a user runs them, beside yardsticks",
        description="Commands benchmark: agora new, save, load and analyze --all on a world of N agents, each "
        "in a fresh process (wall clock and peak RSS), repeated, medians, each beside a plain yardstick "
        "measured in the same run (rows written with executemany; np.save; igraph's Leiden on a numpy-built "
        "graph), against the targets (15 s, 3 s, 5 s, 45 s; 800 MB for new and load, 1.2 GB for analyze).",
    )
    _world_size(bc)
    bc.add_argument("--repeats", type=positive_int, default=3, metavar="R", help="runs of each command (default 3)")
    bc.add_argument("--seed", type=integer, default=1)
    bc.add_argument("--dir", metavar="DIR", help="folder for the world files (default: a temporary folder)")
    bc.add_argument("--no-analysis", action="store_true", help="skip agora analyze --all and its yardstick")
    bc.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bs = bsub.add_parser(
        "social",
        help="feeds, friend suggestions, graph merge and learning of the living network",
        description="Living-network benchmark: every content recommender building feeds and every friend "
        "recommender suggesting follows for a share of online agents, a bulk graph merge and a learning step, "
        "beside plain numpy baselines measured in the same run, with peak RSS.",
    )
    _world_size(bs)
    bs.add_argument(
        "--online", type=fraction, default=0.1, metavar="F", help="share of agents online per tick (default 0.1)"
    )
    bs.add_argument(
        "--k", type=positive_int, default=10, metavar="K", help="feed size and suggestions per agent (default 10)"
    )
    bs.add_argument(
        "--ticks", type=positive_int, default=5, metavar="T", help="ticks timed per recommender (default 5)"
    )
    bs.add_argument("--messages", type=positive_int, default=10, metavar="M", help="live messages (default 10)")
    bs.add_argument("--seed", type=integer, default=7)
    bs.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    ba = bsub.add_parser(
        "api",
        help="requests to agora serve, kept alive and not, beside a minimal Starlette app",
        description="API benchmark: GET /api/v1/world to agora serve (a world of N agents) over one kept-alive "
        "connection and over a new connection each time, beside a minimal Starlette app on uvicorn on this "
        "machine (with TCP_NODELAY, and on a protocol-0 socket that leaves Nagle on); medians in ms, target "
        "under 2 ms kept alive. Then C concurrent clients inject (POST /api/v1/messages) for S seconds: into "
        "agora serve answering once each injection is on disk (durable, target 1,000 a second), answering at "
        "once (--acknowledge applied), and into the minimal Starlette app; injections a second, median and "
        "95th percentile.",
    )
    ba.add_argument("--agents", type=positive_int, default=1000, metavar="N", help="agents (default 1,000)")
    ba.add_argument(
        "--requests", type=positive_int, default=300, metavar="R", help="requests timed per case (default 300)"
    )
    ba.add_argument(
        "--clients",
        type=integer,
        default=50,
        metavar="C",
        help="concurrent clients injecting (durable, applied, and into a minimal Starlette app); 0 skips the "
        "injections (default 50)",
    )
    ba.add_argument(
        "--seconds", type=float, default=5.0, metavar="S", help="seconds each injection case runs (default 5)"
    )
    ba.add_argument(
        "--rounds", type=positive_int, default=2, metavar="K", help="rounds of the injection cases (default 2)"
    )
    ba.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    add_plugins(sub)
    add_sweep(sub)
    add_plot(sub)
    add_cascades(sub)
    add_seeds(sub)
    add_set(sub)
    add_check(sub)
    add_analysis(sub)
    add_analysis_bench(bsub)
    add_llm(sub)
    add_llm_bench(bsub)
    add_audit(sub)
    add_serve(sub)
    return p


def add_plugins(sub: Any) -> None:
    """Add ``plugins list|new|check`` to ``sub`` (the object ``add_subparsers`` returned)."""
    plugins = sub.add_parser(
        "plugins",
        help="list, create, check and trust plugins (propagation models, recommenders)",
        description="List the plugins Agora finds, write a new propagation model or recommender from a template, or "
        "check a plugin file against the plugin contract. Plugins are code and run with your rights: only load "
        "folders you trust.",
    )
    psub = plugins.add_subparsers(dest="plugins_command", metavar="ACTION", parser_class=Parser, required=True)

    lst = psub.add_parser(
        "list",
        help="list built-in, user-folder and installed plugins",
        description="List every plugin: built-in ones, those in user folders (--plugins, the AGORA_PLUGINS variable) "
        "and installed packages' 'agora.plugins' entry points (listed without importing them). "
        "Plugins that failed to import are listed with their error.",
    )
    lst.add_argument(
        "--plugins",
        action="append",
        default=[],
        metavar="DIR",
        help="also load the plugins in DIR (repeat for more folders; AGORA_PLUGINS is read too)",
    )
    lst.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (with parameter schemas and tracebacks)"
    )

    new = psub.add_parser(
        "new",
        help="write a new propagation model or recommender and its tests from a template",
        description="Write NAME.py, a working and documented plugin, and test_NAME.py, its tests, into a folder, from "
        "a template. Propagation models: cascade (a cascade that only reaches agents who share a topic "
        "with the message), compartmental (an SIRS epidemic), opinion (bounded-confidence averaging of a "
        "continuous opinion variable) or network (a cascade whose unconvinced followers unfollow and "
        "rewire). Recommenders: recommender (a content recommender: messages sharing a topic with the "
        "reader, fresher and more adopted first) or friend-recommender (friends of friends). Each passes "
        "'agora plugins check' as written. Nothing is overwritten.",
    )
    new.add_argument("name", metavar="NAME", help="the plugin's name, a Python identifier (e.g. topic_cascade)")
    new.add_argument(
        "--template",
        default="cascade",
        choices=PLUGIN_TEMPLATES,
        metavar="T",
        help="what to start from: " + ", ".join(PLUGIN_TEMPLATES) + " (default: cascade)",
    )
    new.add_argument(
        "--dir",
        default=".",
        metavar="DIR",
        help="folder to write the two files into (default: the current folder; created if missing)",
    )
    new.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    chk = psub.add_parser(
        "check",
        help="run the conformance suite on a plugin file (models and recommenders)",
        description="Check every plugin in FILE. A propagation model: its schema, the shapes and dtypes of its "
        "answers, determinism under one seed, that a probability of 0 leaves only the seeds, that sessions "
        "do not share state, declared monotonicity, its end (an is_done that ends a session right after "
        "start while rounds would still change something fails), and its speed. A content or friend "
        "recommender: its schema, the shapes and dtypes of its answers, that -inf and nan scores are "
        "never shown, no writes to the read-only arrays it is handed, determinism under the tick's "
        "generator, and its speed. Each plugin is also run across its parameter space (every parameter "
        "at its extremes with the others default, and random joint draws seeded by --seed) on two small "
        "worlds, one directed with isolated agents; a failure names the parameter set. Exits 0 when "
        "every check passes, 1 otherwise. The plugin's code runs in this process (in the simulation's "
        "plugin thread, under the plugin time budget: AGORA_PLUGIN_BUDGET, 10 s per call) with your rights.",
    )
    chk.add_argument(
        "file",
        metavar="FILE",
        help="a .py file defining PropagationModel, ContentRecommender or FriendRecommender subclasses",
    )
    chk.add_argument(
        "--agents",
        type=positive_int,
        default=100_000,
        metavar="N",
        help="agents of the synthetic graph the speed figure is measured on (default 100,000; the contract "
        "checks use 2,000, the parameter exploration 500 and 300)",
    )
    chk.add_argument(
        "--seed",
        type=integer,
        default=0,
        help="seed of the synthetic worlds, the sessions and the random parameter draws (default 0)",
    )
    chk.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    tr = psub.add_parser(
        "trust",
        help="load the plugin folder beside a world from now on (until a file in it changes)",
        description="Trust the <world>.plugins folder beside WORLD (or a folder given directly) as it is now: commands "
        "that open the world load it from then on. Remembered in trusted.json of Agora's user folder "
        "($AGORA_CONFIG_HOME, else $XDG_CONFIG_HOME/agora, else ~/.config/agora) by the folder's real path "
        "and a SHA-256 of its files; once a file is added, removed or edited it is not loaded until trusted "
        "again. Plugins are code that runs with your rights: read them first.",
    )
    tr.add_argument("target", metavar="WORLD", help="a world file (its <world>.plugins folder) or a plugin folder")
    tr.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    un = psub.add_parser(
        "untrust",
        help="stop loading the plugin folder beside a world",
        description="Forget that the plugin folder beside WORLD (or the folder given) was trusted.",
    )
    un.add_argument("target", metavar="WORLD", help="a world file (its <world>.plugins folder) or a plugin folder")
    un.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_sweep(sub: Any) -> None:
    """Add ``agora sweep`` to the command's subparsers."""
    sw = sub.add_parser(
        "sweep",
        help="run every combination of model parameters R times (ensembles, in parallel)",
        description="Run every combination of the --grid values R times and report, per combination, the mean "
        "and a 95% interval of the final reach and of the time to peak (the round with the most new adoptions). "
        "The grid may also vary the model (model=ic,sir) and the recommenders (recommender=chronological,hot; "
        "friend_recommender=...). Run r of every combination uses session seed S+r and the same seed agents, so "
        "combinations are compared on common random numbers: every combination after the first reports its paired "
        "difference from the first (identical combinations differ by exactly 0); "
        "a run's result depends only on the world, model, parameters, --seeds and its session seed, whichever "
        "backend ran it. Runs start from the world as saved and never modify the world file. Every run uses the "
        "offline LLM generator (deterministic, no cost, no network). Locally the runs go to a process pool; "
        "with --ray to a Ray cluster (pip install 'agora-sim[ray]').",
        epilog="examples: agora sweep saves/city.db --model ic --grid p=0.01,0.02,0.05 --runs 20 --seeds top:10\n"
        "          agora sweep saves/city.db --grid model=ic,sir --param ic.p=0.1 --param sir.beta=0.08 --series "
        "ab.csv\n"
        "          agora sweep saves/city.db --grid recommender=chronological,hot --param p=0.05 --plot ab.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sw.add_argument("world", metavar="WORLD")
    sw.add_argument("--model", metavar="NAME", help="propagation model (default ic; see 'agora plugins list')")
    sw.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a swept model parameter, model, recommender or friend_recommender and its values (repeatable; "
        "combinations are the product, in order; a value may repeat for an A/A check)",
    )
    sw.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a fixed model parameter (repeatable); MODEL.KEY=VALUE for a parameter of one swept model",
    )
    sw.add_argument("--runs", type=positive_int, default=10, metavar="R", help="runs per combination (default 10)")
    sw.add_argument(
        "--seeds",
        default="random:10",
        metavar="SPEC",
        help="seed agents: random:K, top:K, ids:a,b,c, community:C:K, file:PATH (original agent ids, one "
        "a line), METHOD:K, a seed method (degree:50, ris:50), or none (no seed: start from the world's values, "
        "agora set); --grid seeds=degree:50,ris:50 compares (default random:10)",
    )
    sw.add_argument(
        "--seed", type=integer, default=0, metavar="S", help="base session seed: run r uses S+r (default 0)"
    )
    sw.add_argument(
        "--intervene",
        action="append",
        default=[],
        metavar="[TICK:]ACTION",
        help="change the world during each run: block:METHOD:K (K agents, chosen by a seed method or random:K, "
        "become immune), counter:MODEL:SEEDS[:TEXT] (a competing message), remove-edges:FRACTION"
        "[:random|between]; TICK counts ticks from the injection, without it 0, the injection's tick: "
        "5:block:degree:100 (repeatable); --grid intervene=none,block:degree:100 compares",
    )
    length = sw.add_mutually_exclusive_group()
    length.add_argument(
        "--steps",
        type=positive_int,
        metavar="N",
        help="run each cascade exactly N ticks: the first seeds it, so N ticks give N-1 "
        "propagation rounds (each run's 'rounds' in --json)",
    )
    length.add_argument("--until-done", action="store_true", help="run each cascade until it ends (the default)")
    sw.add_argument(
        "--max-ticks", type=positive_int, metavar="N", help="stop a run that is not done after N ticks (default 10000)"
    )
    sw.add_argument("--inject", default="sweep", metavar="TEXT", help="text of the injected message (default 'sweep')")
    sw.add_argument("--topic", action="append", default=[], metavar="T", help="a topic of the message (repeatable)")
    sw.add_argument(
        "--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)"
    )
    sw.add_argument(
        "--workers",
        type=positive_int,
        metavar="W",
        help=f"parallel worker processes (default: the CPU count, here {os.cpu_count()}); 1 runs in this process",
    )
    sw.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on a Ray cluster at ADDRESS, or 'auto' to start a local one with W CPUs; the world is "
        "shipped once per node and loaded once per worker",
    )
    sw.add_argument(
        "--kernel",
        choices=KERNELS,
        help="'batched' computes each combination's runs in a compiled kernel (the built-in ic, lt and sir where "
        "nothing else moves); an ic or sir run is then the engine's run of its seed, field for field; 'engine' "
        "ticks every run through the engine; 'auto' (default) batches where it can, ic and sir when the sweep "
        "has 100 runs in all or more",
    )
    social_arguments(sw, "of every run; --grid recommender=... varies the content recommender")
    sw.add_argument(
        "--series",
        metavar="FILE",
        help="write every run's per-tick series in long format with one column "
        "per grid key first (e.g. p,run,tick,measure,value): .csv, .csv.gz or .parquet",
    )
    sw.add_argument("--plot", metavar="FILE", help="draw the series, one line per combination (.png, .svg or .pdf)")
    sw.add_argument(
        "--cascades",
        metavar="FILE",
        help="write every run's adoption forest, one row per agent, with one column per grid key first "
        "(e.g. p,run,agent,source,tick,generation): .csv, .csv.gz or .parquet",
    )
    sw.add_argument(
        "--ccdf",
        metavar="FILE",
        help="write each combination's distribution of cascade sizes as a complementary CDF, the grid keys "
        "first (e.g. p,size,ccdf): .csv, .csv.gz or .parquet",
    )
    sw.add_argument(
        "--force",
        action="store_true",
        help="overwrite the --series, --plot, --cascades and --ccdf files if they exist",
    )
    sw.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_plot(sub: Any) -> None:
    """Add ``agora plot`` to the command's subparsers."""
    pl = sub.add_parser(
        "plot",
        help="draw series or cascade files as a figure (PNG, SVG or PDF)",
        description="Draw the per-tick series written by 'agora run --series' or 'agora sweep --series'\n"
        "(CSV, CSV.gz or Parquet) as one figure: for each file, each combination of the sweep's keys\n"
        "and each measure, the mean over the runs per tick and a shaded 95% confidence band.",
        epilog=_PLOT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pl.add_argument(
        "series",
        nargs="+",
        metavar="FILE",
        help="a file written by --series, --cascades or --ccdf (.csv, .csv.gz or .parquet); several are overlaid",
    )
    pl.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the figure to write; its extension picks the format: .png, .svg or .pdf",
    )
    pl.add_argument(
        "--measure",
        action="append",
        default=[],
        metavar="M",
        help="draw only this measure, e.g. I, reached, new or x.mean (repeatable; default: every measure)",
    )
    pl.add_argument("--title", metavar="TEXT", help="the figure's title (default: the file names)")
    pl.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    pl.add_argument("--json", action="store_true", help="print one JSON object on stdout")


#: The examples under ``agora cascades --help``.
_CASCADES_EXAMPLES = """examples:
  agora run saves/w.db --until-done --inject x --model ic --param p=0.1 && agora cascades saves/w.db
  agora cascades saves/w.db 3 --json                  (session 3: measures and top spreaders)
  agora cascades saves/w.db -o tree.graphml           (the latest session's forest, for Gephi)
  agora cascades saves/w.db 3 -o tree.csv.gz          (rows run,agent,source,tick,generation; run = 3)

The forest is rebuilt from the session's rows of the world's events table. A model that names no sources
(who adopted from whom) has no tree: its cascade is null, with a note."""


def add_cascades(sub: Any) -> None:
    """Add ``agora cascades`` to the command's subparsers."""
    p = sub.add_parser(
        "cascades",
        help="the adoption forest of a session persisted in a world file: measures, spreaders, GraphML",
        description="The cascade of a propagation session persisted in a world file (a run without --runs): "
        "its adoption forest rebuilt from the world's events, its measures (size, trees, depth, max breadth, "
        "structural virality, largest tree, share by feed) and top spreaders, and optionally the forest "
        "written as rows or as GraphML for Gephi. Without SESSION, the latest session.",
        epilog=_CASCADES_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("world", metavar="WORLD")
    p.add_argument(
        "session", nargs="?", type=non_negative_int, metavar="SESSION", help="a session id (default: the latest)"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the forest; the extension picks the format: .csv, .csv.gz or .parquet (rows "
        "run,agent,source,tick,generation with run = the session id) or .graphml (nodes: agents with "
        "tick, generation, root; edges source -> agent with via graph or feed)",
    )
    p.add_argument("--top", type=non_negative_int, default=10, metavar="K", help="top spreaders listed (default 10)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


#: The examples under ``agora seeds --help``.
_SEEDS_EXAMPLES = """examples:
  agora seeds saves/w.db --k 10 --method ris --param p=0.05 -o seeds.txt && agora run saves/w.db --inject x --seeds file:seeds.txt --until-done
  agora seeds saves/w.db --k 5 --method degree-discount --param p=0.1 --json
  agora seeds small.db --k 3 --method celf --model sir --mc-runs 100   (any model; an ensemble per estimate)

The spread is estimated from --runs fresh runs of the model (session seeds --seed .. --seed + runs - 1),
never from the runs or samples that chose the seeds. See docs/seeds-and-interventions.md."""  # noqa: E501


def add_seeds(sub: Any) -> None:
    """Add ``agora seeds`` to the command's subparsers."""
    p = sub.add_parser(
        "seeds",
        help="choose K seed agents for influence maximisation (degree, degree-discount, pagerank, celf, ris, ...)",
        description="Choose K seed agents whose message should reach the most agents, by a heuristic, CELF "
        "(lazy greedy on Monte-Carlo estimates) or RIS (IMM, for ic and lt), and estimate their spread with "
        "fresh runs of the model. The world file is not modified.",
        epilog=_SEEDS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("world", metavar="WORLD")
    p.add_argument("--k", type=integer, required=True, metavar="K", help="number of seeds")
    p.add_argument(
        "--method",
        required=True,
        metavar="METHOD",
        help="a seed method: degree, degree-discount, pagerank, random, acquaintance, celf, ris, or a user's "
        "(agora plugins list)",
    )
    p.add_argument("--model", default="ic", metavar="NAME", help="propagation model (default ic)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a model parameter (repeatable)")
    p.add_argument(
        "--method-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of the seed method (repeatable; agora plugins list shows them)",
    )
    p.add_argument(
        "--runs", type=positive_int, default=100, metavar="R", help="fresh runs estimating the spread (default 100)"
    )
    p.add_argument("--mc-runs", type=positive_int, metavar="R", help="celf: runs per estimate (default 50)")
    p.add_argument("--epsilon", type=positive_float, metavar="E", help="ris: IMM's epsilon (default 0.1)")
    p.add_argument("--ell", type=positive_float, metavar="L", help="ris: IMM's ell (default 1)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the seeds' original ids, one a line")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


#: The examples under ``agora set --help``.
_SET_EXAMPLES = """examples:
  agora set saves/w.db opinion survey.csv && agora run saves/w.db --inject x --model deffuant --seeds none --until-done
  agora set saves/w.db susceptibility measured.csv --json
  agora set saves/w.db opinion --clear   (runs draw opinions again)

FILE is CSV: id,value a line (original agent ids; a header line is optional; blank lines are ignored), every
agent of the world exactly once. Anything wrong is refused whole, in one sentence, and the world is left as it
was. See docs/cli.md ("agora set")."""  # noqa: E501


def add_set(sub: Any) -> None:
    """Add ``agora set`` to the command's subparsers."""
    p = sub.add_parser(
        "set",
        help="set a per-agent column from data: opinions a model starts from, measured susceptibilities",
        description="Set a per-agent column of a world from a CSV file of id,value rows: the column a model's "
        "variable starts from (opinion, for the continuous-opinion models: run them with --seeds none to start "
        "exactly from the file), or a built-in measurement (susceptibility, reputation, influence, activity_rate). "
        "Every agent gets exactly one value in the column's range; the change is written to the world file and its "
        "audit log.",
        epilog=_SET_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("world", metavar="WORLD")
    p.add_argument("column", metavar="COLUMN", help="the column to set (a wrong name lists those that may be set)")
    p.add_argument("file", metavar="FILE", nargs="?", help="CSV of id,value rows, every agent once")
    p.add_argument(
        "--clear", action="store_true", help="remove a data column instead (its model draws the variable again)"
    )
    p.add_argument(
        "--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_check(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check a world file: SQLite integrity, arrays, tables and counters",
        description="Check a world file without changing it: SQLite's integrity check, the arrays (as opening the "
        "world validates them, plus the graph's structure), the agent and relationship rows against the arrays, "
        "the messages and sessions tables against the metadata, every session's counters against its arrays, "
        "and its adoption events against who adopted when and from whom; triggers, views, indexes or tables "
        "Agora did not make are problems (Agora refuses to open such a file). Rows of ticks after the last checkpoint "
        "(left by a crash) are reported as notes: the next run discards them. Given a snapshot (.snap), it checks "
        "the snapshot as loading it would (checksums, sizes, the whole world, unique ids) plus every session's "
        "counters, and changes nothing. Exit code 0: consistent; 1: problems (one line each); 2: no such file.",
    )
    p.add_argument("world", metavar="FILE", help="a world file (.db) or a snapshot (.snap)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="SQLite's quick_check instead of integrity_check, and row counts instead of row checksums",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object: {"ok", "problems": [...], "checks": {...}, "notes": [...], ...}',
    )


def add_analysis(sub: Any) -> None:
    """Add ``analyze``, ``export`` and ``path`` to ``sub`` (the object ``add_subparsers`` returned)."""
    an = sub.add_parser(
        "analyze",
        help="find communities and rank influence (PageRank); optional structure metrics",
        description="Analyse a world's network on igraph's C core and store the results in the world file: each "
        "agent's community (0 the largest; -1 for an isolated agent, one with no links, which belongs to no "
        "community and is counted apart) and influence (PageRank over its maximum), and the communities table "
        "(size, density, dominant interests, top influencers, edges between communities). Without "
        "--communities, --pagerank or --all, both communities and PageRank are computed.",
    )
    an.add_argument("world", metavar="WORLD")
    an.add_argument("--communities", action="store_true", help="detect communities")
    an.add_argument("--pagerank", action="store_true", help="rank influence by PageRank")
    an.add_argument(
        "--structure",
        action="store_true",
        help="k-core, clustering, connected components, degree distribution and sampled path lengths",
    )
    an.add_argument("--all", action="store_true", help="communities, PageRank and --structure")
    # Defaults of None tell an option given from one left out: one that cannot apply is refused (see _analyses).
    an.add_argument(
        "--method",
        choices=METHOD_CHOICES,
        default=None,
        help="community detection method (default leiden; all work on the undirected view)",
    )
    an.add_argument(
        "--resolution",
        type=positive_float,
        default=None,
        metavar="R",
        help="modularity resolution for leiden and louvain: higher gives more, smaller communities (default 1)",
    )
    an.add_argument(
        "--seed",
        type=integer,
        default=None,
        help="seed of the community search and of --structure's path sampling (default 0)",
    )
    an.add_argument(
        "--samples",
        type=positive_int,
        default=None,
        metavar="K",
        help="with --structure: breadth-first searches for the path-length estimate (default 16)",
    )
    an.add_argument(
        "--top", type=positive_int, default=10, metavar="N", help="agents and communities listed (default 10)"
    )
    an.add_argument("--no-store", action="store_true", help="report only; leave the world file unchanged")
    an.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    ex = sub.add_parser(
        "export",
        help="write agents as CSV, or the graph (or a part) as GraphML/GEXF for Gephi",
        description="Export a world. CSV: one row per agent (id, name, community, pagerank, influence, in_degree, "
        "out_degree). GraphML/GEXF: the graph through networkx, for Gephi: the whole graph (refused above "
        "--max-edges), one community (--community ID) or the ego network of an agent (--ego AGENT "
        "--radius K). The community column is the world's own (planted by the generator or stored by "
        "'agora analyze', as 'agora agent' shows it); a world with no communities, or no PageRank, gets them "
        "computed for the export only (not stored).",
    )
    ex.add_argument("world", metavar="WORLD")
    ex.add_argument("out", metavar="OUT", help="the file to write")
    ex.add_argument(
        "--format", choices=("csv", "graphml", "gexf"), default=None, help="file format (default: from OUT's extension)"
    )
    ex.add_argument("--community", type=non_negative_int, metavar="ID", help="only this community")
    ex.add_argument(
        "--ego", type=integer, metavar="AGENT", help="only agents within --radius links of this agent (original id)"
    )
    ex.add_argument("--radius", type=non_negative_int, default=None, metavar="K", help="radius of --ego (default 1)")
    ex.add_argument(
        "--max-edges",
        type=positive_int,
        default=None,
        metavar="N",
        help="refuse GraphML/GEXF graphs with more edges (default 200,000; a CSV has no edges)",
    )
    ex.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    ex.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    pa = sub.add_parser(
        "path",
        help="a shortest path between two agents",
        description="Print a shortest path from agent A to agent B (original ids) along follow links, the way a "
        "message travels (from an agent to its followers); --undirected ignores direction.",
    )
    pa.add_argument("world", metavar="WORLD")
    pa.add_argument("a", type=integer, metavar="A", help="original id of the first agent")
    pa.add_argument("b", type=integer, metavar="B", help="original id of the last agent")
    pa.add_argument("--undirected", action="store_true", help="ignore the direction of follow links")
    pa.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_analysis_bench(bsub: Any) -> None:
    """Add ``analysis`` to the ``bench`` subparsers."""
    ba = bsub.add_parser(
        "analysis",
        help="igraph view, PageRank, Leiden and peak RSS at a million agents, with baselines",
        description="Analysis benchmark: building the igraph view, PageRank, Leiden and peak RSS on a synthetic world, "
        "beside a plain igraph build from a Python edge list and networkx PageRank on a smaller world.",
    )
    ba.add_argument("--agents", type=positive_int, default=1_000_000, metavar="N", help="agents (default 1,000,000)")
    ba.add_argument("--avg-degree", type=positive_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    ba.add_argument(
        "--baseline-agents",
        type=positive_int,
        default=100_000,
        metavar="N",
        help="agents of the world the baselines run on (default 100,000)",
    )
    ba.add_argument("--seed", type=integer, default=1)
    ba.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_llm(sub: Any) -> None:
    iv = sub.add_parser(
        "interview",
        help="ask an agent a question; it answers in its persona",
        description="Ask one agent of a world a question. It answers in its persona, from its interests and "
        "the messages it has seen and shared: through the LLM when OPENAI_API_KEY is set, from the world's "
        "response cache for a question asked before, else from the offline generator. The answer's source "
        "is printed (llm, cache or offline).",
    )
    iv.add_argument("world", metavar="WORLD")
    iv.add_argument("agent", type=integer, metavar="AGENT", help="the agent's original id")
    iv.add_argument("question", metavar="QUESTION")
    llm_arguments(iv)
    iv.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    lm = sub.add_parser(
        "llm",
        help="show or change a world's LLM settings",
        description="Show a world's LLM settings, the configuration in effect (settings, then the environment, "
        "then --llm), the response cache and the posts agents wrote; --set changes the world's settings "
        "(validated, written to the world file). Servers are never stored in a world (a shared world could "
        "send your API key elsewhere): set OPENAI_BASE_URL or pass --llm base_urls=... to each command. "
        "--ping sends one request to every server.",
    )
    lm.add_argument("world", metavar="WORLD")
    lm.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting of the world (repeatable; not base_urls: servers come from the environment or --llm)",
    )
    lm.add_argument("--ping", action="store_true", help="send one short request to every configured server and report")
    llm_arguments(lm)
    lm.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_llm_bench(bsub: Any) -> None:
    bl = bsub.add_parser(
        "llm",
        help="LLM client throughput against a local chat-completions server",
        description="LLM benchmark: completions per second through Agora's client (limits, retries, breaker) "
        "against local servers answering after a fixed latency, beside a plain HTTP client measured in the "
        "same run, with the client's own CPU time per call.",
    )
    bl.add_argument(
        "--requests", type=positive_int, default=2000, metavar="N", help="completions per measurement (default 2000)"
    )
    bl.add_argument("--concurrency", type=positive_int, default=64, metavar="C", help="requests in flight (default 64)")
    bl.add_argument(
        "--latency", type=non_negative_float, default=0.02, metavar="S", help="server latency in seconds (default 0.02)"
    )
    bl.add_argument(
        "--servers", type=positive_int, default=1, metavar="K", help="local servers, balanced by load (default 1)"
    )
    bl.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bm = bsub.add_parser(
        "memory",
        help="agent memory: bytes per LLM agent, prompt sizes, recall time, rule runs unchanged",
        description="Agent memory benchmark: LLM agents deciding through a local chat-completions server with "
        "memory on, beside the same run with memory=off (memory bytes and events per agent, the distribution "
        "of estimated prompt tokens); the time to build one agent's memory part beside a plain indexed read; "
        "and a rule-based cascade with the default settings beside memory=off (nothing is made).",
    )
    bm.add_argument(
        "--agents", type=positive_int, default=3000, metavar="N", help="agents of the LLM world (default 3000)"
    )
    bm.add_argument("--ticks", type=positive_int, default=40, metavar="T", help="ticks of each LLM run (default 40)")
    bm.add_argument(
        "--llm-agents",
        type=positive_int,
        default=20,
        metavar="K",
        help="agents asked per round and message (default 20)",
    )
    bm.add_argument(
        "--rule-agents",
        type=positive_int,
        default=1_000_000,
        metavar="N",
        help="agents of the rule run (default 1,000,000)",
    )
    bm.add_argument(
        "--latency",
        type=non_negative_float,
        default=0.005,
        metavar="S",
        help="server latency in seconds (default 0.005)",
    )
    bm.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_audit(sub: Any) -> None:
    """``agora audit``."""
    p = sub.add_parser(
        "audit",
        help="show a world's audit log (the user actions that changed it)",
        description="Show the audit log of a world file: every user action that changed it (inject, "
        "cancel, run, save, load, analysis, social, llm settings, plugin_reload, interview) with its "
        "time (UTC) and details, oldest first.",
    )
    p.add_argument("world", metavar="WORLD")
    p.add_argument("--action", metavar="A", help=f"only this action ({', '.join(ACTIONS)})")
    p.add_argument(
        "--limit", type=positive_int, metavar="N", help="only the latest N rows (of --action's, with --action)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a world over HTTP: a management API with a live event stream, behind a token",
        description="Serve a world over HTTP until interrupted: inject messages, step, run and pause it, read its "
        "sessions, agents and communities, save and load snapshots, and follow its live events "
        "(GET /api/v1/events, Server-Sent Events). Every /api/v1 route needs a bearer token from $AGORA_API_TOKEN "
        "or --token-file (read-only ones from --read-token-file); given none, a server on this machine makes one and "
        "writes it to WORLD.token (readable by you only), and a server on another address refuses to start. Requests "
        "must name a loopback host (or one given with --allow-host) and send JSON bodies. The routes are described at "
        "/api/v1/openapi.json and in docs/api.md.",
    )
    p.add_argument("world", metavar="WORLD")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="HOST",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 or :: for every interface)",
    )
    p.add_argument("--port", type=integer, default=8765, metavar="PORT", help="port (default 8765; 0 picks a free one)")
    p.add_argument("--port-file", metavar="FILE", help="write the port to FILE once the server listens")
    p.add_argument(
        "--token-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a token that may do everything, on the first line of FILE (named after the file; repeatable)",
    )
    p.add_argument(
        "--read-token-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a token that may only read (GET), on the first line of FILE (repeatable)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        type=host_name,
        help="also answer requests whose Host header is NAME (a name or address clients use to reach this "
        "server; loopback names and addresses always are), and WebSockets from pages of NAME (repeatable)",
    )
    p.add_argument(
        "--request-timeout",
        type=positive_seconds,
        default=60.0,
        metavar="S",
        help="seconds a request may take before it answers 503 (the work it started goes on; default 60)",
    )
    p.add_argument(
        "--max-messages",
        type=integer,
        default=100_000,
        metavar="N",
        help="the most messages the served world may hold: an injection or counter-message past it answers 409, "
        "and a counter-message that would pass it when its tick comes is skipped (default 100,000)",
    )
    p.add_argument(
        "--acknowledge",
        choices=("durable", "applied"),
        default="durable",
        help="when a change (an injection, an intervention) is answered: durable (the default) once it is "
        "committed to the world file, so a crash of the server never loses it; applied as soon as it is made "
        "in memory, its record committed moments later (a kill -9 in between loses it)",
    )
    p.add_argument(
        "--max-interventions",
        type=integer,
        default=1000,
        metavar="N",
        help="the most interventions (pending and applied) the served world may hold: one past it answers 409 "
        "(default 1,000)",
    )
    p.add_argument(
        "--header-timeout",
        type=positive_seconds,
        default=10.0,
        metavar="S",
        help="seconds a request's headers may take to arrive; a connection that has not sent them by then is "
        "answered 408 and closed (default 10)",
    )
    p.add_argument(
        "--max-connections",
        type=integer,
        metavar="N",
        help="the most connections open at once (event streams and WebSockets included); one more is answered 503 "
        "and closed (default 1,024, fewer when the open-file limit, ulimit -n, has less room)",
    )
    p.add_argument(
        "--snapshots", metavar="DIR", help="folder of the snapshots it saves and loads (default: the world file's)"
    )
    p.add_argument(
        "--metrics", action="store_true", help="also serve Prometheus /metrics and /healthz (no token needed)"
    )
    p.add_argument(
        "--plugins", action="append", default=[], metavar="DIR", help="load user plugins from DIR (repeatable)"
    )
    p.add_argument(
        "--plugin-budget",
        type=non_negative_float,
        metavar="S",
        help="seconds one plugin call may take before its session fails (default: $AGORA_PLUGIN_BUDGET, else 10)",
    )
    social_arguments(p, "while served (default: the world's setting)")
    llm_arguments(p)
    checkpoint_arguments(p)
