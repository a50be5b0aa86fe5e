"""Agent lifecycle: states and the transitions allowed between them.

::

    created -> active | deactivated
    active  -> idle | muted | suspended | deactivated
    idle    -> active | muted | suspended | deactivated
    muted   -> active | idle | suspended | deactivated
    suspended -> active | deactivated
    deactivated -> (none: final)

Only ``active`` agents are online (see ``World.advance``); suspended and deactivated agents are never
chosen as seeds. Transitions are applied to many agents at once and refused as a whole when any of
them is not allowed, so the world is left as it was.
"""

from __future__ import annotations

import numpy as np

from sim.core.world import Status, World
from sim.errors import BadParameterError

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.ACTIVE, Status.DEACTIVATED}),
    Status.ACTIVE: frozenset({Status.IDLE, Status.MUTED, Status.SUSPENDED, Status.DEACTIVATED}),
    Status.IDLE: frozenset({Status.ACTIVE, Status.MUTED, Status.SUSPENDED, Status.DEACTIVATED}),
    Status.MUTED: frozenset({Status.ACTIVE, Status.IDLE, Status.SUSPENDED, Status.DEACTIVATED}),
    Status.SUSPENDED: frozenset({Status.ACTIVE, Status.DEACTIVATED}),
    Status.DEACTIVATED: frozenset(),
}

#: ALLOWED as a boolean table: ``_TABLE[old, new]``.
_TABLE = np.zeros((len(Status), len(Status)), dtype=bool)
for _old, _news in ALLOWED.items():
    for _new in _news:
        _TABLE[_old, _new] = True


class InvalidTransition(BadParameterError):
    """A lifecycle transition that is not allowed."""


def parse_status(name: str | int | Status) -> Status:
    """A status from its name (case-insensitive) or number.

    Raises:
        BadParameterError: unknown status.
    """
    if isinstance(name, Status):
        return name
    if isinstance(name, (int, np.integer)) and 0 <= int(name) < len(Status):
        return Status(int(name))
    key = str(name).strip().upper()
    if key in Status.__members__:
        return Status[key]
    raise BadParameterError(
        f"unknown lifecycle status {name!r}: use one of {', '.join(s.name.lower() for s in Status)}"
    )


def transition(world: World, agents: np.ndarray, new: str | int | Status) -> int:
    """Move the given agents (internal indices) to ``new``; returns how many changed.

    Raises:
        InvalidTransition: some agent may not go to ``new`` from where it is (the first is named);
            nothing is changed then.
    """
    target = parse_status(new)
    agents = np.unique(np.asarray(agents, dtype=np.int64))
    if agents.size and (agents[0] < 0 or agents[-1] >= world.n):
        raise BadParameterError(f"agent indices must be in 0..{world.n - 1}")
    status = world.columns["status"]
    old = status[agents].astype(np.int64)
    same = old == int(target)
    ok = _TABLE[old, int(target)] | same
    if not ok.all():
        bad = int(agents[~ok][0])
        raise InvalidTransition(
            f"agent {int(world.columns['ids'][bad])} cannot go from {Status(int(status[bad])).name.lower()} to "
            f"{target.name.lower()}: allowed from there are "
            f"{', '.join(s.name.lower() for s in sorted(ALLOWED[Status(int(status[bad]))])) or 'none (final state)'}"
        )
    changed = agents[~same]
    status[changed] = int(target)
    if changed.size:
        world.dirty_arrays.add("agent.status")
    return int(changed.size)
