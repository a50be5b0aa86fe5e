"""Seed selections: which agents a message starts from (``random:K``, ``top:K``, ``ids:a,b,c``,
``community:C:K``, ``file:PATH``, ``none``, or ``METHOD:K`` for a seed method such as ``degree:50`` or
``ris:50``), parsed once and resolved against a world. ``none`` is no seed at all: for a model whose
initial state comes from the world (opinions set with ``agora set``), so a run starts exactly from it. A
method's selection is chosen by the engine when the message is injected (``sim.engine.seeding``): it needs
the registry and the model."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

import numpy as np

from sim.core.arrays import one_of
from sim.core.world import World
from sim.errors import BadParameterError
from sim.model.lifecycle import FROZEN, all_active

#: The ranges integers from outside must fit: SQLite's INTEGER and numpy's int64; int32 columns.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

#: The selection kinds that are not seed methods: a method cannot take these names in a selection.
KINDS = ("random", "top", "ids", "community", "file", "none")
_METHOD_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def read_seed_file(path: str) -> np.ndarray:
    """The original agent ids listed in a seed file: one id a line; blank lines and ``#`` comments
    (whole lines or after an id) are ignored. Returned as int64, in file order (repeats kept).

    Raises:
        BadParameterError: the file cannot be read, a line is not a whole number, or it lists no id.
    """
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
        ids = np.array([int(t) for t in tokens], dtype=np.int64)
    except (ValueError, OverflowError):
        for number, t in enumerate(lines, 1):  # only on the error path: find the line to name
            if t:
                try:
                    int(t)
                    if not -(2**63) <= int(t) < 2**63:
                        raise ValueError
                except ValueError:
                    raise BadParameterError(
                        f"seed file {path!r} line {number}: {t[:40]!r} is not an agent id "
                        "(one whole number a line; # starts a comment)"
                    ) from None
        raise
    return ids


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

    @classmethod
    def parse(cls, text: str) -> SeedSpec:
        """Parse a seed selection.

        Raises:
            BadParameterError: the text is not one of the four forms.
        """
        hint = (
            "use random:K, top:K, ids:a,b,c, community:C:K, file:PATH, none or METHOD:K (a seed method: degree:K, "
            "ris:K, ...)"
        )
        text = str(text).strip()
        if text.lower() == "none":
            return cls("none")
        if text[:5].lower() == "file:":
            path = text[5:]
            if not path:
                raise BadParameterError(
                    f"seed selection {text!r} names no file: use file:PATH (original agent ids, one a line)"
                )
            return cls("file", path=path, file_ids=read_seed_file(path))
        parts = text.split(":")
        kind = parts[0].lower()
        try:
            if kind in ("random", "top") and len(parts) == 2:
                k = int(parts[1])
                if not 1 <= k <= INT64_MAX:
                    raise ValueError
                return cls(kind, k=k)
            if kind == "ids" and len(parts) == 2:
                ids = tuple(int(x) for x in parts[1].split(",") if x.strip())
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
                k = int(parts[1])
                if not 1 <= k <= INT64_MAX:
                    raise ValueError
                return cls("method", k=k, method=kind)
            if kind == "community" and len(parts) == 3:
                c, k = int(parts[1]), int(parts[2])
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
                raise BadParameterError(
                    f"seed file {self.path!r} names agent id {int(keys[bad][0])}, which this world does not "
                    f"have ({unknown.size:,} of its {np.unique(keys).size:,} distinct ids are unknown): "
                    "list original agent ids (see 'agora agent' or 'agora export')"
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


def _eligible(status: np.ndarray) -> np.ndarray:
    """Agents that may be seeds: those a session may change (joined, and neither suspended nor deactivated)."""
    return ~np.asarray(one_of(status, FROZEN))
