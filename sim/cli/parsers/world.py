"""The flags of the commands on one world file: make it (``new``), show it (``info``, ``agent``, ``topics``,
``audit``), copy it (``save``, ``load``), change it (``social``, ``set``, ``llm``), check it (``check``),
analyse its network (``analyze``, ``export``, ``path``) and ask its agents (``interview``)."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.args import (
    fraction,
    integer,
    llm_arguments,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    social_arguments,
)
from sim.cli.parsers.options import force_flag, json_flag, plugins_flag, world_argument
from sim.core.audit import ACTIONS

#: The examples under ``agora set --help``.
_SET_EXAMPLES = """examples:
  agora set saves/w.db opinion survey.csv && agora run saves/w.db --inject x --model deffuant --seeds none --until-done
  agora set saves/w.db susceptibility measured.csv --json
  agora set saves/w.db opinion --clear   (runs draw opinions again)

FILE is CSV: id,value a line (original agent ids; a header line is optional; blank lines are ignored), every
agent of the world exactly once. Anything wrong is refused whole, in one sentence, and the world is left as it
was. See docs/cli.md ("agora set")."""  # noqa: E501


def add_new(sub: Any) -> None:
    """``agora new``."""
    new = sub.add_parser(
        "new",
        help="create a world (synthetic graph or imported edge list)",
        description="Create a world file: a synthetic graph (--agents) or a real edge list (--edges).",
    )
    world_argument(new, "path of the world file to create (e.g. saves/mine.db)")
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
    force_flag(new, "WORLD")
    json_flag(new)


def add_info_and_agent(sub: Any) -> None:
    """``agora info`` and ``agora agent``."""
    info = sub.add_parser("info", help="describe a world file", description="Describe a world file.")
    world_argument(info)
    json_flag(info)

    agent = sub.add_parser(
        "agent",
        help="show one agent",
        description="Show one agent of a world by its original id, "
        "with what it remembers when the LLM speaks for it: its recent events (the short-term window, "
        "'agora llm WORLD --set memory_window=K'), the summary of its older ones and the size of its memory.",
    )
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


def add_save_and_load(sub: Any) -> None:
    """``agora save`` and ``agora load``."""
    save = sub.add_parser(
        "save",
        help="save a world file as a snapshot",
        description="Write a world to a snapshot file (.snap): the whole world, every session's adoption events "
        "and feed exposures included (--slim leaves those out).",
    )
    world_argument(save)
    save.add_argument("snapshot", metavar="SNAPSHOT")
    force_flag(save, "SNAPSHOT")
    save.add_argument(
        "--slim",
        action="store_true",
        help="leave out the adoption events and feed exposures (the events table) for a smaller, faster "
        "file; a world loaded from it keeps its state but its events start at the snapshot's tick",
    )
    json_flag(save)

    load = sub.add_parser(
        "load",
        help="restore a snapshot into a world file",
        description="Create a world file from a snapshot, its adoption events and feed exposures included "
        "(unless it was saved with --slim).",
    )
    load.add_argument("snapshot", metavar="SNAPSHOT")
    world_argument(load)
    force_flag(load, "WORLD")
    json_flag(load)


def add_social(sub: Any) -> None:
    """``agora social``."""
    social = sub.add_parser(
        "social",
        help="show or change a world's living-network settings",
        description="Show a world's living-network settings (content and friend recommenders, feed size, "
        "churn, trust and reputation rates) or change them with the flags below. Changes are validated and "
        "written to the world file; 'agora run' flags override them for one run.",
    )
    world_argument(social)
    social_arguments(social, "the world's default")
    plugins_flag(social)
    json_flag(social)


def add_topics(sub: Any) -> None:
    """``agora topics``."""
    topics = sub.add_parser(
        "topics", help="list the 64 topics", description="List the topics agents and messages can have."
    )
    json_flag(topics)


def add_set(sub: Any) -> None:
    """``agora set``."""
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
    world_argument(p)
    p.add_argument("column", metavar="COLUMN", help="the column to set (a wrong name lists those that may be set)")
    p.add_argument("file", metavar="FILE", nargs="?", help="CSV of id,value rows, every agent once")
    p.add_argument(
        "--clear", action="store_true", help="remove a data column instead (its model draws the variable again)"
    )
    plugins_flag(p)
    json_flag(p)


def add_check(sub: Any) -> None:
    """``agora check``."""
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
    json_flag(p, 'print one JSON object: {"ok", "problems": [...], "checks": {...}, "notes": [...], ...}')


def add_audit(sub: Any) -> None:
    """``agora audit``."""
    p = sub.add_parser(
        "audit",
        help="show a world's audit log (the user actions that changed it)",
        description="Show the audit log of a world file: every user action that changed it (inject, "
        "cancel, run, save, load, analysis, social, llm settings, plugin_reload, interview) with its "
        "time (UTC) and details, oldest first.",
    )
    world_argument(p)
    p.add_argument("--action", metavar="A", help=f"only this action ({', '.join(ACTIONS)})")
    p.add_argument(
        "--limit", type=positive_int, metavar="N", help="only the latest N rows (of --action's, with --action)"
    )
    json_flag(p)


#: Community detection methods of ``agora analyze --method``.
METHOD_CHOICES = ("leiden", "louvain", "label-propagation")


def add_analysis(sub: Any) -> None:
    """Add ``analyze``, ``export`` and ``path`` to ``sub`` (the object ``add_subparsers`` returned)."""
    add_analyze(sub)
    add_export(sub)
    add_path(sub)


def add_analyze(sub: Any) -> None:
    """``agora analyze``."""
    an = sub.add_parser(
        "analyze",
        help="find communities and rank influence (PageRank); optional structure metrics",
        description="Analyse a world's network on igraph's C core and store the results in the world file: each "
        "agent's community (0 the largest; -1 for an isolated agent, one with no links, which belongs to no "
        "community and is counted apart) and influence (PageRank over its maximum), and the communities table "
        "(size, density, dominant interests, top influencers, edges between communities). Without "
        "--communities, --pagerank or --all, both communities and PageRank are computed.",
    )
    world_argument(an)
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
    json_flag(an)


def add_export(sub: Any) -> None:
    """``agora export``."""
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
    world_argument(ex)
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
    force_flag(ex, "OUT")
    json_flag(ex)


def add_path(sub: Any) -> None:
    """``agora path``."""
    pa = sub.add_parser(
        "path",
        help="a shortest path between two agents",
        description="Print a shortest path from agent A to agent B (original ids) along follow links, the way a "
        "message travels (from an agent to its followers); --undirected ignores direction.",
    )
    world_argument(pa)
    pa.add_argument("a", type=integer, metavar="A", help="original id of the first agent")
    pa.add_argument("b", type=integer, metavar="B", help="original id of the last agent")
    pa.add_argument("--undirected", action="store_true", help="ignore the direction of follow links")
    json_flag(pa)


def add_llm(sub: Any) -> None:
    """``agora interview`` and ``agora llm``."""
    iv = sub.add_parser(
        "interview",
        help="ask an agent a question; it answers in its persona",
        description="Ask one agent of a world a question. It answers in its persona, from its interests and "
        "the messages it has seen and shared: through the LLM when OPENAI_API_KEY is set, from the world's "
        "response cache for a question asked before, else from the offline generator. The answer's source "
        "is printed (llm, cache or offline).",
    )
    world_argument(iv)
    iv.add_argument("agent", type=integer, metavar="AGENT", help="the agent's original id")
    iv.add_argument("question", metavar="QUESTION")
    llm_arguments(iv)
    json_flag(iv)

    lm = sub.add_parser(
        "llm",
        help="show or change a world's LLM settings",
        description="Show a world's LLM settings, the configuration in effect (settings, then the environment, "
        "then --llm), the response cache and the posts agents wrote; --set changes the world's settings "
        "(validated, written to the world file). Servers are never stored in a world (a shared world could "
        "send your API key elsewhere): set OPENAI_BASE_URL or pass --llm base_urls=... to each command. "
        "--ping sends one request to every server.",
    )
    world_argument(lm)
    lm.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting of the world (repeatable; not base_urls: servers come from the environment or --llm)",
    )
    lm.add_argument("--ping", action="store_true", help="send one short request to every configured server and report")
    llm_arguments(lm)
    json_flag(lm)
