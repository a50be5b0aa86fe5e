"""Memory estimates, so that sizes the machine cannot hold are refused before any work starts."""

from __future__ import annotations

import os
import shutil

import psutil

from sim.errors import ResourceError

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
    return ensure_memory(
        build_peak_bytes(agents, edges),
        f"{what} ({agents:,} agents, about {edges:,} directed edges)",
        "use fewer agents or a lower --avg-degree",
    )


#: Bytes a world file takes on disk per agent (its row, persona codes, the arrays) and per directed edge
#: (its relationships row and index, the CSR arrays), measured at 200,000 and 10,000,000 agents.
DISK_BYTES_PER_AGENT = 100
DISK_BYTES_PER_EDGE = 48


def world_file_bytes(agents: int, edges: int) -> int:
    """About how large a world file of this size is."""
    return agents * DISK_BYTES_PER_AGENT + edges * DISK_BYTES_PER_EDGE


def ensure_disk(path: str, need: int, what: str) -> int:
    """Refuse up front when the folder of ``path`` has less than ``need`` bytes free (with 5 % to spare).

    Raises:
        ResourceError: with the estimate and the free space.
    """

    folder = os.path.dirname(os.path.abspath(path)) or "."
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    free = shutil.disk_usage(folder).free
    if need * 1.05 > free:
        raise ResourceError(
            f"{what} needs about {need / 2**30:.1f} GiB of disk but {folder} has only {free / 2**30:.1f} GiB free: "
            f"free some space or write it elsewhere"
        )
    return need


def ensure_memory(need: int, what: str, hint: str) -> int:
    """Refuse up front when ``need`` bytes exceed 90 % of the memory available now.

    Raises:
        ResourceError: with the estimate, what is available and ``hint`` (what to do).
    """
    available = psutil.virtual_memory().available
    if need > available * 0.9:
        raise ResourceError(
            f"{what} needs about {need / 2**30:.1f} GiB of memory but only {available / 2**30:.1f} GiB is available: "
            f"{hint}"
        )
    return need
