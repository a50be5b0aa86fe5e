"""The flags of ``agora new`` (a synthetic graph, an imported edge list or a table of people)."""

from __future__ import annotations

from typing import Any

from sim.cli.args import fraction, input_file, integer, non_negative_float, positive_int, repeatable, social_arguments
from sim.cli.parsers.options import force_flag, json_flag, world_argument


def new_flags(new: Any) -> None:
    """The flags of ``agora new``."""
    world_argument(new, "path of the world file to create (e.g. saves/mine.db)", made=True)
    src = new.add_mutually_exclusive_group()  # one of --agents, --edges, --people: checked with the options
    src.add_argument("--agents", type=positive_int, metavar="N", help="number of agents of a synthetic world")
    input_file(
        new,
        "--edges",
        what="edge list",
        action="append",
        default=[],
        help="import an edge list: SNAP 'u v' lines or CSV 'source,target[,weight]', optionally .gz; with "
        "--people, repeatable, each followed by its --layer: a contact layer of the people's ids (lines kept as "
        "given, u v: an edge u->v; the weight column is the trust)",
    )
    input_file(
        src,
        "--people",
        what="people table",
        help="a world from a table of people (.csv, .csv.gz or .parquet): one agent per row, none dropped, "
        "contacts from --group, --near and --edges FILE --layer NAME",
    )
    _people_flags(new)
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
        default=None,
        metavar="M",
        help="simulated minutes per tick; agents are online by their hourly activity profile (default 10; 1,440, a "
        "day, for a world of --people, whose epidemics and data count days)",
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


def _people_flags(new: Any) -> None:
    """The flags that shape a world from a table of people: its id column and its contact layers."""
    new.add_argument(
        "--id", metavar="COLUMN", default=None, help="with --people: the column of the people's ids (default id)"
    )
    repeatable(
        new,
        "--group",
        metavar="COLUMN[:LAYER][:max=K]",
        help="with --people: link the people who share a value of COLUMN (both ways) in contact layer LAYER "
        "(default: the column's name); max=K links each to at most K random members of a big group",
    )
    repeatable(
        new,
        "--skip",
        metavar="VALUE",
        help="with --group: a value that is not a group (such as preschool in a class column): its people "
        "are linked by no group layer",
    )
    repeatable(
        new,
        "--near",
        metavar="X,Y:R[:LAYER]",
        help="with --people: link the people within distance R of each other on the numeric columns X and Y "
        "(default layer near)",
    )
    repeatable(
        new,
        "--layer",
        metavar="NAME",
        help="with --people: the contact layer of the --edges file before it (the pairs match up in order)",
    )
