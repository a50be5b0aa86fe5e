"""Seed selections: which agents a message starts from (``random:K``, ``top:K``, ``ids:a,b,c``,
``community:C:K``, ``file:PATH``, ``none``, or ``METHOD:K`` for a seed method such as ``degree:50`` or
``ris:50``), parsed once and resolved against a world. ``none`` is no seed at all: for a model whose
initial state comes from the world (opinions set with ``agora set``), so a run starts exactly from it. A
method's selection is chosen by the engine when the message is injected (``sim.engine.seeding``): it needs
the registry and the model.

**One door for every selection.** :meth:`SeedSpec.parse` is the only parser of a selection, wherever one
arrives (a message's seeds, an intervention's ``block:``/``counter:``, a forecast's arm, a fit's seeds), and
it takes the :class:`Limits` of the front end that asked: a request to a live world (:data:`SERVED`) never
names a file (refused before anything is opened) nor a seed method that can take minutes."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

import numpy as np

from sim.core.arrays import one_of
from sim.core.numbers import INT32_MAX, int_of
from sim.core.numbers import INT32_MIN as INT32_MIN
from sim.core.world import World
from sim.errors import BadParameterError
from sim.model.lifecycle import FROZEN, all_active
from sim.model.registry import SEEDER, Registry

#: The ranges integers from outside must fit: SQLite's INTEGER and numpy's int64; int32 columns.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: The selection kinds that are not seed methods: a method cannot take these names in a selection.
KINDS = ("random", "top", "ids", "community", "file", "none")
_METHOD_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a front end may ask for, beyond what any request may.

    Attributes:
        files: seeds may name a file (``file:PATH``), and a request may name other files (a forecast's
            posterior): a path on this machine, which a request to a server never names. Refused before the
            file is opened.
        slow_methods: seeds may name a seed method that can take minutes on a large world (``celf``,
            ``ris``: a seeder marked ``expensive``).
        max_text: the most characters of a message's text (None: no bound but memory).
        max_seed_ids: the most agent ids one selection may name (None: no bound).
        flags: kept for callers that pass it; errors now always name the request's fields (``runs``), which
            the command line prints as its flags (:mod:`sim.cli.fields`, issue 58).
        slow_why, slow_hint: why a slow seed method is refused here and what to do instead (one sentence's
            two halves).
    """

    files: bool = True
    slow_methods: bool = True
    max_text: int | None = None
    max_seed_ids: int | None = None
    flags: bool = True
    slow_why: str = "which a request may not"
    slow_hint: str = "choose the seeds with 'agora seeds' and send their ids"


#: The command line and a world file's Python API: the user's own machine, files included.
LOCAL = Limits()
#: The longest message text a client may inject (characters).
MAX_TEXT = 10_000
#: The most agent ids one injection may name as seeds (``ids:a,b,c`` or a JSON list).
MAX_SEED_IDS = 100_000
#: A request to a live world (``agora serve``, the terminal UI's forms, a live world from Python).
SERVED = Limits(files=False, slow_methods=False, max_text=MAX_TEXT, max_seed_ids=MAX_SEED_IDS, flags=False)
#: A fit's seeds (``agora fit --seeds``): its own machine's files, but no slow seed method, which every one of
#: its thousands of simulations would run again.
FIT = Limits(
    slow_why="which a fit may not: every one of its thousands of simulations would choose them again",
    slow_hint="choose them once with 'agora seeds WORLD --method METHOD --k K -o seeds.txt' and give "
    "--seeds file:seeds.txt",
    slow_methods=False,
)

#: The seed selections a request to a live world may name.
SEEDS_HINT = (
    "seeds over the API are ids:a,b,c, random:K, top:K, community:C:K, METHOD:K (a quick seed method: degree, "
    "degree-discount, pagerank, random, acquaintance), none (no seed), or a JSON list of agent ids"
)


def read_seed_file(path: str) -> np.ndarray:
    """The original agent ids listed in a seed file: one id a line; blank lines and ``#`` comments
    (whole lines or after an id) are ignored. Returned as int64, in file order (repeats kept).

    Raises:
        BadParameterError: the file cannot be read, a line is not a whole number, or it lists no id.
    """
    return _read_seed_lines(path)[0]


def _read_seed_lines(path: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_seed_file`'s ids and the line each stands on (int32, from 1): an error names the line, never
    what it holds."""
    try:
        # Opened without blocking and checked to be a regular file before reading: a FIFO or a device
        # named as a seed file would otherwise hold the reader for ever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise BadParameterError(
                    f"seed file {path!r} is not a regular file: give a text file of agent ids, one a line"
                )
            raw = fh.read(64 * 1024 * 1024 + 1)
    except OSError as exc:
        raise BadParameterError(
            f"seed file {path!r} cannot be read ({exc.strerror or exc}): give a text file of agent ids, one a line"
        ) from None
    if len(raw) > 64 * 1024 * 1024:
        raise BadParameterError(
            f"seed file {path!r} is larger than 64 MiB: list at most a few million agent ids, one a line"
        )
    text = raw.decode("utf-8", errors="replace")
    lines = [line.partition("#")[0].strip() for line in text.splitlines()]
    tokens = [t for t in lines if t]
    if not tokens:
        raise BadParameterError(f"seed file {path!r} lists no agent ids: give one original agent id a line")
    try:
        # int() reads every script's digits and underscores: ASCII digits only (a file all ASCII, without
        # underscores, takes int()'s fast path).
        joined = "".join(tokens)
        whole = int if joined.isascii() and "_" not in joined else int_of
        ids = np.array([whole(t) for t in tokens], dtype=np.int64)
        numbers = np.flatnonzero(np.fromiter(map(bool, lines), dtype=bool, count=len(lines))).astype(np.int32) + 1
    except (ValueError, OverflowError):
        for number, t in enumerate(lines, 1):  # only on the error path: find the line to name
            if t:
                try:
                    if not -(2**63) <= int_of(t) < 2**63:
                        raise ValueError
                except ValueError:
                    # The line is named, never quoted: the file may be anything (a key, /proc/self/environ).
                    raise BadParameterError(
                        f"seed file {path!r} line {number} is not an agent id: list whole numbers that fit in "
                        "64 bits, one a line (# starts a comment)"
                    ) from None
        raise
    return ids, numbers


@dataclass(frozen=True, slots=True)
class SeedSpec:
    """A parsed seed selection: ``random:K``, ``top:K``, ``ids:a,b,c``, ``community:C:K``, ``file:PATH``
    (original agent ids, one a line, read when the selection is parsed) or ``none`` (no seed)."""

    kind: str
    k: int = 0
    ids: tuple[int, ...] = ()
    community: int = -1
    path: str = ""
    method: str = ""
    file_ids: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: The line of the file each of ``file_ids`` stood on (an error names it).
    file_lines: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, limits: Limits = LOCAL, registry: Registry | None = None) -> SeedSpec:
        """Parse a seed selection within ``limits`` (a ``file:PATH`` is read here, once, where they allow files).

        Args:
            text: the selection.
            limits: what the front end that asked may ask for (:data:`LOCAL`: anything; :data:`SERVED`: no
                file, no slow seed method, a bounded list of ids).
            registry: the seed methods known; given, a method it does not know is refused here. A slow method
                is looked up in it (None: the built-in plugins' and ``$AGORA_PLUGINS``') when ``limits``
                refuse them.

        Raises:
            BadParameterError: the text is not one of the forms, or asks for what ``limits`` refuse (one
                sentence, which never quotes a file).
            PluginError: the method's plugin failed to load.
        """
        hint = (
            "use random:K, top:K, ids:a,b,c, community:C:K, file:PATH, none or METHOD:K (a seed method: degree:K, "
            "ris:K, ...)"
            if limits.files
            else "use random:K, top:K, ids:a,b,c, community:C:K, none or METHOD:K (a seed method: degree:K, ...)"
        )  # where no file may be named, none is offered
        text = str(text).strip()
        if text.lower() == "none":
            return cls("none")
        if text[:5].lower() == "file:":
            if not limits.files:  # refused before anything is opened: a request names no path on the server
                raise BadParameterError(
                    f"seeds cannot be a file here (a request never names a path on the server): {SEEDS_HINT}"
                )
            path = text[5:]
            if not path:
                raise BadParameterError(
                    f"seed selection {text!r} names no file: use file:PATH (original agent ids, one a line)"
                )
            listed, lines = _read_seed_lines(path)
            return cls("file", path=path, file_ids=listed, file_lines=lines)
        parts = text.split(":")
        kind = parts[0].lower()
        try:
            if kind in ("random", "top") and len(parts) == 2:
                k = int_of(parts[1])
                if not 1 <= k <= INT64_MAX:
                    raise ValueError
                return cls(kind, k=k)
            if kind == "ids" and len(parts) == 2:
                if limits.max_seed_ids is not None and parts[1].count(",") >= limits.max_seed_ids:
                    raise BadParameterError(
                        f"the seed selection names more than the {limits.max_seed_ids:,} ids one message may "
                        "name: use random:K or top:K for large seed sets"
                    )
                ids = tuple(int_of(x) for x in parts[1].split(",") if x.strip())
                if not ids:
                    raise ValueError
                out_of_range = next((i for i in ids if not INT64_MIN <= i <= INT64_MAX), None)
                if out_of_range is not None:
                    raise BadParameterError(
                        f"seed id {str(out_of_range)[:30]} is out of range: agent ids are whole "
                        "numbers that fit in 64 bits (see 'agora agent' or 'agora export')"
                    )
                return cls(kind, ids=ids)
            if kind not in KINDS and len(parts) == 2 and _METHOD_NAME.fullmatch(kind):
                k = int_of(parts[1])
                if not 1 <= k <= INT64_MAX:
                    raise ValueError
                _check_method(kind, limits, registry)
                return cls("method", k=k, method=kind)
            if kind == "community" and len(parts) == 3:
                c, k = int_of(parts[1]), int_of(parts[2])
                if not (1 <= k <= INT64_MAX and 0 <= c <= INT32_MAX):
                    raise ValueError
                return cls(kind, k=k, community=c)
        except ValueError:
            pass
        raise BadParameterError(f"seed selection {text!r} is not valid: {hint}")

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "ids":
            return "ids:" + ",".join(map(str, self.ids))
        if self.kind == "file":
            return f"file:{self.path}"
        if self.kind == "community":
            return f"community:{self.community}:{self.k}"
        if self.kind == "method":
            return f"{self.method}:{self.k}"
        return f"{self.kind}:{self.k}"

    def check(self, world: World) -> None:
        """Refuse a selection this world cannot meet now (unknown ids, a missing or empty community, more
        seeds than eligible agents) without drawing anything: a session injected with it would fail.

        Raises:
            BadParameterError: as :meth:`select`.
        """
        if self.kind == "none":
            return
        if self.kind in ("ids", "file"):
            self.select(world, None)  # type: ignore[arg-type]
            return
        status = world.columns["status"]
        if self.kind == "community":
            self.select(world, np.random.default_rng(0))  # the community's pool: small next to the world
            return
        eligible = world.n if all_active(status) else int(np.count_nonzero(_eligible(status)))
        if self.k > eligible:
            raise BadParameterError(
                f"{self} asks for {self.k:,} seeds but only {eligible:,} agents are eligible: "
                f"ask for at most {eligible:,}"
            )

    def select(self, world: World, rng: np.random.Generator) -> np.ndarray:
        """Agent indices chosen as seeds (sorted int32), among agents that have joined and are not suspended or
        deactivated (none for ``none``).

        Raises:
            BadParameterError: unknown ids, an unknown or empty community, or more seeds than agents.
        """
        if self.kind == "none":
            return np.empty(0, dtype=np.int32)
        status = world.columns["status"]
        if self.kind == "method":
            raise BadParameterError(
                f"seeds {self} are chosen by the seed method {self.method!r} when a message is injected: "
                "inject the message again"
            )
        if self.kind == "ids":
            idx = world.indices_of(np.array(self.ids, dtype=np.int64))
            return np.unique(idx).astype(np.int32)
        if self.kind == "file":
            assert self.file_ids is not None
            keys = self.file_ids
            ids = world.columns["ids"]
            idx = np.searchsorted(ids, keys)
            bad = (
                (idx >= ids.size) | (ids[np.minimum(idx, max(ids.size - 1, 0))] != keys)
                if ids.size
                else np.ones(keys.size, bool)
            )
            if bad.any():
                unknown = np.unique(keys[bad])
                first = int(np.argmax(bad))
                line = int(self.file_lines[first]) if self.file_lines is not None else first + 1
                # Where in the file, not what: a file's content is never quoted back.
                raise BadParameterError(
                    f"seed file {self.path!r} line {line:,} names an agent id this world does not have "
                    f"({unknown.size:,} of its {np.unique(keys).size:,} distinct ids are unknown): list original "
                    "agent ids (see 'agora agent' or 'agora export')"
                )
            return np.unique(idx).astype(np.int32)
        pool: np.ndarray | None
        if self.kind == "community":
            comm = world.columns["community"]
            if comm.max(initial=-1) < 0:
                if (world.config.get("analysis") or {}).get("communities"):
                    raise BadParameterError(
                        "this world has no communities: no agent has a link (isolated agents belong to "
                        "no community); use random:K or top:K seeds"
                    )
                raise BadParameterError(
                    "this world has no communities yet: run analysis first or use random:K or top:K seeds"
                )
            # Isolated agents (community -1) are in no community, so C >= 0 never picks them.
            pool = np.flatnonzero((comm == self.community) & _eligible(status))
            if pool.size == 0:
                raise BadParameterError(
                    f"community {self.community} has no agents: communities run from 0 to {int(comm.max())}"
                )
        elif self.kind == "top":
            pool = np.flatnonzero(_eligible(status))
            if self.k > pool.size:
                raise BadParameterError(f"top:{self.k} asks for more seeds than the {pool.size} eligible agents")
            infl = world.columns["influence"][pool]
            # Highest influence first; ties broken by lower index (stable).
            order = np.argsort(-infl, kind="stable")[: self.k]
            return np.sort(pool[order]).astype(np.int32)
        else:
            pool = np.flatnonzero(_eligible(status)) if not all_active(status) else None
        # Every agent eligible (the common case): range(N), the same draw as from the pool of all of them,
        # without making it (an ensemble draws its seeds once a run).
        size = status.size if pool is None else pool.size
        if self.k > size:
            raise BadParameterError(f"{self} asks for {self.k} seeds but only {size} agents are eligible")
        return np.sort(rng.choice(size if pool is None else pool, size=self.k, replace=False)).astype(np.int32)


def _check_method(name: str, limits: Limits, registry: Registry | None) -> None:
    """Refuse the seed method ``name`` when ``registry`` is given and does not know it, or when ``limits`` refuse
    slow methods and it is one (``expensive``). Without a registry, a method the built-in one does not know is
    left to whoever resolves it against the world's own plugins.

    Raises:
        BadParameterError: an unknown method (the registry's sentence), or a slow one ``limits`` refuse.
    """
    if registry is None:
        if limits.slow_methods:
            return
        registry = Registry()
        if f"{SEEDER}:{name}" not in registry.entries:
            return
    method = registry.seeder(name)  # an unknown method: the registry's sentence
    if method.expensive and not limits.slow_methods:
        raise BadParameterError(
            f"seed method {name} can take minutes on a large world, {limits.slow_why}: {limits.slow_hint}"
        )


def _eligible(status: np.ndarray) -> np.ndarray:
    """Agents that may be seeds: those a session may change (joined, and neither suspended nor deactivated)."""
    return ~np.asarray(one_of(status, FROZEN))
