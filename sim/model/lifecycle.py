"""Which agents a propagation session may change: agents that have not joined yet, are suspended or are
deactivated never change state in a session, and muted ones adopt but do not transmit."""

from __future__ import annotations

import numpy as np

#: Lifecycle states (``sim.core.world.Status``) in which an agent never changes state in a session
#: (created: not joined yet; suspended; deactivated), and in which it does not transmit (also muted).
FROZEN = np.array([0, 4, 5], dtype=np.int8)
SILENT = np.array([0, 3, 4, 5], dtype=np.int8)


def all_active(status: np.ndarray) -> bool:
    """Whether every agent is active (the common case, checked without a pass over all N when it is not)."""
    return status.size == 0 or (int(status[0]) == 1 and int(status.min()) == int(status.max()))
