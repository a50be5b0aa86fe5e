"""Interventions: changes to the world during a run (``--intervene TICK:ACTION``), parsed and kept in the
world, and the mask of blocked agents that every session respects.

Actions (TICK counts ticks from the run's injection: 0 is the tick of the seeding):

- ``block:SEEDS``: the agents SEEDS selects (a seed method with its k, ``degree:100``, ``acquaintance:50``,
  or any seed selection: ``random:K``, ``top:K``, ``ids:a,b``) become immune: in every session they can
  neither adopt nor transmit from then on.
- ``counter:MODEL:SEEDS[:TEXT]``: a competing message starts from SEEDS under MODEL (with the parameters of
  the message it counters when that runs the same model, else the defaults); an agent that adopted
  one of the linked messages can no longer adopt the other.
- ``remove-edges:FRACTION[:random|between]``: that share of the edges (of all of them, or of those between
  two communities) is cut.

The world keeps them in ``config["interventions"]`` (saved in world files and snapshots): every entry has
``at`` (the absolute tick it applies at), ``action`` and its text; once applied, ``applied`` is true and the
entry records what it did (the blocked agents' original ids, the counter's session, the edges cut), or
``skipped``, the sentence why it did nothing (a counter-message past a server's ``--max-messages``). A
snapshot taken before an intervention and continued applies it at the same tick, with the same choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core.numbers import float_of, int_of
from sim.core.world import World
from sim.errors import BadParameterError
from sim.model.seeds import INT32_MAX, LOCAL, Limits, SeedSpec

if TYPE_CHECKING:
    from sim.model.registry import Registry

ACTIONS = ("block", "counter", "remove-edges")
EDGE_METHODS = ("random", "between")
#: The world config key of the interventions.
CONFIG_KEY = "interventions"
#: The most characters of a counter-message's text.
TEXT_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Intervention:
    """A parsed intervention: ``tick`` relative to the run (None: the next tick, as the TUI applies one)."""

    tick: int | None
    action: str
    seeds: str = ""
    model: str = ""
    text: str = ""
    fraction: float = 0.0
    method: str = "random"

    @classmethod
    def parse(
        cls, text: str, *, with_tick: bool = True, limits: Limits = LOCAL, registry: Registry | None = None
    ) -> Intervention:
        """Parse ``TICK:ACTION`` (or ``ACTION`` alone with ``with_tick=False``). Its seeds are parsed by
        :meth:`SeedSpec.parse` within ``limits`` (a live world's :data:`~sim.model.seeds.SERVED`: no file, which
        is refused before it is opened, and no slow seed method), their method looked up in ``registry``.

        Raises:
            BadParameterError: one clear sentence naming what is wrong (never quoting a file).
        """
        raw = str(text).strip()
        hint = (
            "use [TICK:]block:SEEDS (block:degree:100), [TICK:]counter:MODEL:SEEDS[:TEXT] or "
            "[TICK:]remove-edges:FRACTION[:random|between]"
        )
        if not with_tick:
            hint = hint.replace("[TICK:]", "")
        parts = raw.split(":")
        tick: int | None = None
        if with_tick:
            try:
                tick = int_of(parts[0])  # ASCII digits only: "١" is no tick
            except ValueError:
                raise BadParameterError(f"intervention {raw[:80]!r} does not start with a tick: {hint}") from None
            if not 0 <= tick <= INT32_MAX:
                raise BadParameterError(f"intervention tick {parts[0][:20]} is out of range: give 0 to {INT32_MAX:,}")
            parts = parts[1:]
        if not parts or parts[0] not in ACTIONS:
            what = parts[0][:30] if parts else ""
            raise BadParameterError(f"intervention {raw[:80]!r} has no known action {what!r}: {hint}")
        action, rest = parts[0], parts[1:]
        if action == "block":
            spec = _seed_spec(":".join(rest), raw, hint, limits, registry)
            return cls(tick, action, seeds=str(spec))
        if action == "counter":
            if len(rest) < 3:
                raise BadParameterError(f"intervention {raw[:80]!r} names no model and seeds: {hint}")
            model = rest[0].strip()
            if not model:
                raise BadParameterError(f"intervention {raw[:80]!r} names no model: {hint}")
            if rest[1].strip().lower() == "file":  # refused before the file is opened, whoever asks
                raise BadParameterError("a counter-message's seeds cannot be a file: give ids:a,b,c or METHOD:K")
            size = 3 if rest[1].lower() == "community" else 2
            spec = _seed_spec(":".join(rest[1 : 1 + size]), raw, hint, limits, registry)
            message = ":".join(rest[1 + size :])
            if len(message) > TEXT_LIMIT:
                raise BadParameterError(f"the counter-message's text is over {TEXT_LIMIT:,} characters: shorten it")
            return cls(tick, action, seeds=str(spec), model=model, text=message)
        if not 1 <= len(rest) <= 2:
            raise BadParameterError(f"intervention {raw[:80]!r} is not remove-edges:FRACTION[:random|between]")
        try:
            fraction = float_of(rest[0], special=False)  # ASCII digits only, no nan or inf
        except ValueError:
            fraction = -1.0
        if fraction == 0.0 and any(c in "123456789" for c in rest[0].lower().partition("e")[0]):
            fraction = math.ulp(0.0)  # a share above 0 too small for a float (0.000...01): the least above 0
        if not 0.0 < fraction <= 1.0:
            raise BadParameterError(
                f"remove-edges fraction {rest[0][:20]!r} is not valid: give a share of edges above 0, at most 1"
            )
        method = rest[1].strip().lower() if len(rest) == 2 else "random"
        if method not in EDGE_METHODS:
            raise BadParameterError(f"remove-edges method {method[:20]!r} is not known: use random or between")
        return cls(tick, action, fraction=fraction, method=method)

    def __str__(self) -> str:
        body = self.action_text()
        return body if self.tick is None else f"{self.tick}:{body}"

    def action_text(self) -> str:
        """The action without its tick."""
        if self.action == "block":
            return f"block:{self.seeds}"
        if self.action == "counter":
            return f"counter:{self.model}:{self.seeds}" + (f":{self.text}" if self.text else "")
        return f"remove-edges:{self.fraction:g}:{self.method}"


def _seed_spec(text: str, raw: str, hint: str, limits: Limits, registry: Registry | None) -> SeedSpec:
    if not text:
        raise BadParameterError(f"intervention {raw[:80]!r} names no agents: {hint}")
    return SeedSpec.parse(text, limits, registry)


def parse_all(items: list[str] | tuple[str, ...] | None) -> list[Intervention]:
    """Every ``--intervene`` of a command line (``none`` means none, for a grid's control arm).

    Raises:
        BadParameterError: as :meth:`Intervention.parse`.
    """
    return [Intervention.parse(t) for t in items or () if str(t).strip().lower() != "none"]


# -- the world's record ----------------------------------------------------------------------------------


def entries(world: World) -> list[dict[str, Any]]:
    """The world's interventions (pending and applied), in the order they were given."""
    listed = world.config.get(CONFIG_KEY)
    return listed if isinstance(listed, list) else []


#: What an intervention read from a world file or a snapshot may name: never a file to open.
_STORED = Limits(files=False)
#: The most interventions a world may hold, and the most agents one block may list (from files: untrusted).
MAX_ENTRIES, MAX_AGENTS = 100_000, 100_000_000
#: The most interventions a driven world (served, in the terminal UI, from Python) may be given unless told
#: otherwise (``agora serve --max-interventions``): every tick looks through them for those due.
MAX_INTERVENTIONS = 1_000


def action_of(text: str) -> str:
    """The action an intervention's text names (``block``, ``counter``, ``remove-edges``; what stands there
    when it names none), read as :meth:`Intervention.parse` reads it, without checking the rest."""
    parts = str(text).strip().split(":")
    return parts[1] if parts[0][:1].isascii() and parts[0][:1].isdigit() and len(parts) > 1 else parts[0]


def pending_counters(world: World) -> int:
    """How many counter-messages are scheduled and not yet applied: each may add a message to the world."""
    return sum(1 for e in entries(world) if e.get("action") == "counter" and not e.get("applied"))


def entries_problem(listed: Any) -> str | None:
    """What is wrong with ``config["interventions"]`` as read from a file (None: nothing): a list of
    entries, each with a whole ``at`` in range, a known ``action``, a ``spec`` that parses, a bool
    ``applied`` and, for a block, a list of whole agent ids. Nothing from a file is trusted."""
    if not isinstance(listed, list):
        return "not a list"
    if len(listed) > MAX_ENTRIES:
        return f"more than {MAX_ENTRIES:,} entries"
    for i, e in enumerate(listed):
        if not isinstance(e, dict):
            return f"entry {i} is not a record"
        at, tick = e.get("at"), e.get("tick", 0)
        for value in (at, tick):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
                return f"entry {i} has a bad tick"
        if e.get("action") not in ACTIONS or not isinstance(e.get("applied"), bool):
            return f"entry {i} has a bad action"
        spec = e.get("spec")
        try:
            if not isinstance(spec, str) or len(spec) > 4 * TEXT_LIMIT:
                raise BadParameterError("bad")
            # A stored block may name the file its agents came from (kept, never read again: the ids are here).
            stored = spec.lower().startswith("block:file:")
            parsed = None if stored else Intervention.parse(spec, with_tick=False, limits=_STORED)
        except BadParameterError:
            return f"entry {i} has a bad spec"
        if parsed is not None and parsed.action != e["action"]:
            return f"entry {i} has a bad spec"
        agents = e.get("agents", [])
        if not isinstance(agents, list) or len(agents) > MAX_AGENTS:
            return f"entry {i} has a bad agent list"
        if agents and not all(type(a) is int and -(2**63) <= a < 2**63 for a in agents):
            return f"entry {i} has a bad agent id"
        skipped = e.get("skipped", "")
        if not isinstance(skipped, str) or len(skipped) > 4 * TEXT_LIMIT:
            return f"entry {i} has a bad skipped reason"
        for key in ("session", "blocked", "edges"):
            value = e.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
                return f"entry {i} has a bad {key}"
    return None


def blocked_mask(world: World) -> np.ndarray | None:
    """(N,) bool: agents blocked by an applied ``block``; None when there are none. Cached on the world
    until an intervention is applied."""
    listed = entries(world)
    key = sum(1 for e in listed if e.get("applied"))
    cached = world.__dict__.get("_blocked")
    if cached is not None and cached[0] == key and cached[1] is not None and cached[1].size == world.n:
        return cached[1]
    if cached is not None and cached[0] == key and cached[1] is None:
        return None
    mask = None
    ids_col = world.columns["ids"]
    for e in listed:
        if e.get("applied") and e.get("action") == "block" and e.get("agents"):
            ids = np.asarray(e["agents"], dtype=np.int64)
            idx = np.searchsorted(ids_col, ids)
            ok = (idx < ids_col.size) & (ids_col[np.minimum(idx, ids_col.size - 1)] == ids)
            if mask is None:
                mask = np.zeros(world.n, dtype=bool)
            mask[idx[ok]] = True  # an id the world no longer has (a corrupt file) blocks nobody
    world.__dict__["_blocked"] = (key, mask)
    return mask


def forget_blocked(world: World) -> None:
    """Drop the cached mask (after an intervention is applied)."""
    world.__dict__.pop("_blocked", None)
