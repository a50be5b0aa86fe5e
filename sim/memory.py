"""Memory estimates, so that sizes the machine cannot hold are refused before any work starts."""

from __future__ import annotations

import psutil

from .errors import ResourceError

#: Bytes per agent held by a world: the columns plus two CSR offset arrays.
BYTES_PER_AGENT = 65
#: Bytes per directed edge held by a world: out/in indices, trust and the in->out edge map.
BYTES_PER_EDGE = 16
#: Extra bytes per directed edge while a graph is generated or imported (pair keys, sorting).
BUILD_BYTES_PER_EDGE = 28


def world_bytes(agents: int, edges: int) -> int:
    """Memory a loaded world of this size holds."""
    return agents * BYTES_PER_AGENT + edges * BYTES_PER_EDGE


def build_peak_bytes(agents: int, edges: int) -> int:
    """Peak memory while such a world is generated and persisted."""
    return world_bytes(agents, edges) + edges * BUILD_BYTES_PER_EDGE + agents * 40


def ensure_fits(agents: int, edges: int, what: str = "this world") -> int:
    """Refuse up front when building ``what`` would exceed the memory available now.

    Returns:
        The estimate in bytes.

    Raises:
        ResourceError: with the estimate and what is available.
    """
    need = build_peak_bytes(agents, edges)
    available = psutil.virtual_memory().available
    if need > available * 0.9:
        raise ResourceError(
            f"{what} ({agents:,} agents, about {edges:,} directed edges) needs about {need / 2**30:.1f} GiB "
            f"of memory but only {available / 2**30:.1f} GiB is available: use fewer agents or a lower --avg-degree"
        )
    return need
