"""Memory estimates, so that sizes the machine cannot hold are refused before any work starts.

The memory a command may still take (:func:`memory_available`) is the least of what the machine has free
(psutil's ``available``), what the process's cgroup (v2 or v1, its ancestors included) allows beyond its use,
what ``RLIMIT_AS`` and ``RLIMIT_DATA`` leave beyond the process's use, and what :data:`MEMORY_ENV`
(``AGORA_MEMORY=1GiB``) leaves beyond the process's resident memory: a cap a user sets for one command.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
from dataclasses import dataclass

import psutil

from sim.core.numbers import ascii_float
from sim.errors import BadParameterError, ResourceError

#: The most memory one command may use, in bytes or with a unit (``800M``, ``1GiB``, ``2.5GB``): Agora refuses
#: work whose estimate exceeds what this leaves beyond the process's resident memory.
MEMORY_ENV = "AGORA_MEMORY"
_SIZE = re.compile(r"\s*([0-9.eE+-]+)\s*([A-Za-z]*)\s*\Z", re.ASCII)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kib": 2**10,
    "kb": 10**3,
    "m": 2**20,
    "mib": 2**20,
    "mb": 10**6,
    "g": 2**30,
    "gib": 2**30,
    "gb": 10**9,
    "t": 2**40,
    "tib": 2**40,
    "tb": 10**12,
}
#: A cgroup limit this large (v1's "no limit", 2^63 rounded to pages) is no limit.
_NO_LIMIT = 2**60

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


def parse_size(text: str, where: str = MEMORY_ENV) -> int:
    """``text`` as a number of bytes: plain bytes or a number with a unit (``K``, ``M``, ``G``, ``T`` and
    ``KiB``... are powers of 1024, ``KB``, ``MB``... of 1000; any case), in ASCII digits.

    Raises:
        BadParameterError: not such a size, or not above 0 (``where`` names the setting).
    """
    match = _SIZE.match(text)
    number = ascii_float(match.group(1)) if match else None
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if number is None or unit is None or not 0 < number * unit < 2**63:
        raise BadParameterError(
            f"{where}={text[:40]!r} is not a size: give a number of bytes above 0, or one with a unit, such as "
            f"{where}=800M or {where}=1GiB"
        )
    return int(number * unit)


@dataclass(frozen=True)
class Available:
    """The memory a command may still take (bytes) and what bounds it (``""``: the machine's free memory)."""

    bytes: int
    bound: str = ""


def _read_int(path: str) -> int | None:
    """The number a cgroup file holds (None: missing, unreadable or ``max``)."""
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isascii() and text.isdigit() else None


def _inactive_file(path: str, keys: tuple[str, ...]) -> int:
    """The cgroup's reclaimable page cache (``inactive_file`` of memory.stat): counted in its use, not held."""
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key in keys and value.strip().isdigit():
                    return int(value)
    except OSError:
        pass
    return 0


def _cgroup_dirs(mount: str, relative: str) -> list[str]:
    """The cgroup folders of this process under ``mount``, itself first and then its ancestors (a limit anywhere
    up the tree applies); the mount itself when the process's path is not visible there (inside a container)."""
    out, rel = [], relative.strip("/")
    while True:
        folder = os.path.join(mount, rel) if rel else mount
        if os.path.isdir(folder):
            out.append(folder)
        if not rel:
            break
        rel = os.path.dirname(rel)
    return out or ([mount] if os.path.isdir(mount) else [])


def _cgroup_left() -> int | None:
    """What this process's cgroup (v2, else v1's memory controller) allows beyond its use, the least over
    its ancestors; None when no limit is set."""
    try:
        with open("/proc/self/cgroup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    left: list[int] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "" and os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):  # v2, unified
            for d in _cgroup_dirs("/sys/fs/cgroup", path):
                limit = _read_int(os.path.join(d, "memory.max"))
                used = _read_int(os.path.join(d, "memory.current"))
                if limit is not None and limit < _NO_LIMIT and used is not None:
                    cache = _inactive_file(os.path.join(d, "memory.stat"), ("inactive_file",))
                    left.append(limit - max(0, used - cache))
        elif "memory" in controllers.split(","):  # v1
            for d in _cgroup_dirs("/sys/fs/cgroup/memory", path):
                limit = _read_int(os.path.join(d, "memory.limit_in_bytes"))
                used = _read_int(os.path.join(d, "memory.usage_in_bytes"))
                if limit is not None and limit < _NO_LIMIT and used is not None:
                    cache = _inactive_file(os.path.join(d, "memory.stat"), ("total_inactive_file", "inactive_file"))
                    left.append(limit - max(0, used - cache))
    return min(left) if left else None


def memory_available() -> Available:
    """The memory this process may still take: the least of the machine's available memory, its cgroup's
    limit less its use, ``RLIMIT_AS`` less the process's virtual size, ``RLIMIT_DATA`` less its data, and
    :data:`MEMORY_ENV` less its resident memory (never below 0).

    Raises:
        BadParameterError: :data:`MEMORY_ENV` is set to something that is not a size.
    """
    best = Available(int(psutil.virtual_memory().available))
    candidates: list[Available] = []
    cgroup = _cgroup_left()
    if cgroup is not None:
        candidates.append(Available(cgroup, "the memory limit of this process's cgroup, less what it uses"))
    info = None
    with contextlib.suppress(psutil.Error):
        info = psutil.Process().memory_info()
    for limit_name, used_name, what in (
        ("RLIMIT_AS", "vms", "the address-space limit (ulimit -v), less the process's size"),
        ("RLIMIT_DATA", "data", "the data-segment limit (ulimit -d), less the process's data"),
    ):
        soft = resource.getrlimit(getattr(resource, limit_name))[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            used = int(getattr(info, used_name, 0) or 0) if info is not None else 0
            candidates.append(Available(soft - used, what))
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        cap = parse_size(text)
        rss = int(info.rss) if info is not None else 0
        candidates.append(Available(cap - rss, f"{MEMORY_ENV}={text[:40]}, less the {gib(rss)} this command holds"))
    for c in candidates:
        if c.bytes < best.bytes:
            best = c
    return Available(max(0, best.bytes), best.bound)


def ensure_memory(need: int, what: str, hint: str) -> int:
    """Refuse up front when ``need`` bytes exceed 90 % of the memory available now (:func:`memory_available`).

    Raises:
        ResourceError: with the estimate, what is available (and what bounds it) and ``hint`` (what to do).
        BadParameterError: :data:`MEMORY_ENV` is not a size.
    """
    available = memory_available()
    if need > available.bytes * 0.9:
        bound = f" ({available.bound})" if available.bound else ""
        raise ResourceError(
            f"{what} needs about {gib(need)} of memory but only {gib(available.bytes)} is available{bound}: {hint}"
        )
    return need


def gib(count: int) -> str:
    """``count`` bytes in GiB for a sentence (``1.5 GiB``; two decimals under 1 GiB: ``0.25 GiB``)."""
    value = count / 2**30
    return f"{value:,.1f} GiB" if value >= 1 else f"{value:.2f} GiB"
