"""Cascades with reshare times and follower counts: read from a file, or simulated by Agora on a world, in the form
SEISMIC reads (:mod:`sim.analysis.seismic`): per cascade each post's time in seconds since the original post
(ascending, the original's 0 first), its author's follower count and its author.

**A file** (:func:`read_cascades`) has a row per post: ``id`` (its author, an agent of the world), ``parent`` (the
``id`` of the post it reshared, empty for an original post), a time column (whole seconds, or timestamps, as
``--time`` reads it) and ``followers`` (the author's follower count, a whole number); a ``cascade`` column
(optional) names which cascade a row belongs to, so that one author may post in many. Each original post starts a
cascade; a reshare's time is no earlier than its parent's.

**Simulated** (:func:`simulate`): runs of a model with adoption trees (``ic``) from one original poster, each
adoption a post whose time is its parent's plus a delay drawn from SEISMIC's kernel
(:func:`sim.analysis.seismic.tree_times`) and whose follower count is its author's out-degree. A cascade's final
size is its number of reshares (posts less the original).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from sim.analysis.seismic import KERNEL, Kernel, tree_times
from sim.engine.requests import Ensemble
from sim.runs.runner import run_ensemble
from sim.store.timeline import read_timed_seconds

if TYPE_CHECKING:
    import pandas as pd

    from sim.core.world import World
    from sim.model.registry import Registry
    from sim.runs.results import Failure
    from sim.store.timeline import TimedRows

#: The columns a cascade file must have (``cascade`` and a time column beside them).
_COLUMNS = ("id", "parent", "followers")
#: What a cascade file holds.
GIVE = "a row per post: id, parent (empty for an original post), time (seconds or timestamps) and followers"


class SimulationsFailed(Exception):
    """Runs of a model failed (its plugin raised) while cascades were simulated: no forecast is made of the
    others. ``failure`` is the first one, with the plugin's traceback for its author."""

    def __init__(self, model: str, failed: int, runs: int, failure: Failure | None) -> None:
        first = f": {failure.error}" if failure is not None and failure.error else ""
        super().__init__(f"{failed:,} of {runs:,} runs of {model} failed{first}")
        self.model, self.failed, self.runs, self.failure = model, failed, runs, failure

    def __reduce__(self) -> tuple[object, ...]:  # from a worker process, whole
        return (SimulationsFailed, (self.model, self.failed, self.runs, self.failure))


class Cascade(NamedTuple):
    """One cascade: post times (seconds, ascending, the original's 0 first), each post's author's follower count,
    the final number of reshares, the posts' authors (original ids; ``agents[0]`` the original poster) and each
    post's parent's author (the original post's: -1, or empty text from a file)."""

    times: np.ndarray
    followers: np.ndarray
    final: int
    agents: np.ndarray
    parents: np.ndarray

    def upto(self, cut: float) -> tuple[np.ndarray, np.ndarray]:
        """The posts seen by ``cut`` (seconds since the original post): what a forecaster at ``cut`` knows."""
        known = int(np.searchsorted(self.times, cut, side="right"))
        return self.times[:known], self.followers[:known]


class ReadCascades(NamedTuple):
    """A cascade file, read: its name and its cascades in the order of their original posts' rows."""

    path: str
    cascades: list[Cascade]


def _roots(parent: np.ndarray) -> np.ndarray | None:
    """Each row's root row by pointer jumping (about log2 of the depth rounds); None where parents form a cycle."""
    up = np.where(parent < 0, np.arange(parent.size), parent)
    for _ in range(int(parent.size).bit_length() + 2):
        nxt = up[up]
        if np.array_equal(nxt, up):
            return up if bool((parent[up] < 0).all()) else None
        up = nxt
    return None


def _ascii(cells: np.ndarray) -> np.ndarray:
    """Which text cells are ASCII: numpy reads every script's digits as numbers (``"٣"`` as 3), Agora only ASCII's.
    A look at the cells' code points, no loop."""
    wide = np.ascontiguousarray(cells)
    if wide.dtype.kind != "U" or wide.size == 0 or wide.dtype.itemsize == 0:
        return np.ones(wide.shape, dtype=bool)
    codes = wide.view(np.uint32).reshape(wide.size, -1)
    return np.all(codes < 128, axis=1).reshape(wide.shape)


def _whole(rows: TimedRows, column: str, what: str) -> np.ndarray:
    cells = rows.cells[column]
    ok = np.char.isdigit(cells) & (np.char.str_len(cells) <= 15) & _ascii(cells)
    if not ok.all():
        raise rows.bad(int(np.argmax(~ok)), f"its {what} is not a whole number: give each post's {what}")
    return cells.astype(np.int64)


def read_cascades(source: str | os.PathLike[str] | pd.DataFrame, *, time: str | None = None) -> ReadCascades:
    """The cascades of ``source`` (a file or a DataFrame; see the module docstring), bounded and checked as every
    table a user names (:func:`sim.store.timeline.read_timed_rows`).

    Raises:
        BadFileError: an unreadable file, a missing column, a bad or repeated id, a parent without a row, a
            reshare before its parent, a cycle, a follower count that is not a whole number.
        BadParameterError: a ``time`` that names no column.
    """

    rows = read_timed_seconds(source, columns=_COLUMNS, time=time)
    k = rows.ticks.size
    ids, parents = rows.cells["id"], rows.cells["parent"]
    group = (
        np.char.strip(np.asarray(rows.table.get("cascade")).astype(str))
        if "cascade" in rows.table.header
        else np.full(k, "", dtype="U1")
    )
    if (np.char.str_len(ids) == 0).any():
        raise rows.bad(int(np.argmax(np.char.str_len(ids) == 0)), "its id is empty: give each post's author")
    followers = _whole(rows, "followers", "follower count").astype(np.float64)
    key = np.char.add(np.char.add(group, "\x1f"), ids)
    root = np.char.str_len(parents) == 0
    parent = rows.parents(
        key,
        np.where(root, "", np.char.add(np.char.add(group, "\x1f"), parents)),
        twice="the same id in one cascade: an author posts once each",
        orphan="its parent has no row in its cascade: give every parent a row",
        own="is its own parent: an original post's parent is empty",
    )
    top = _roots(parent)
    if top is None:
        raise rows.table.bad("has a cycle of parents: every cascade starts at an original post (an empty parent)")
    seconds = (rows.ticks - rows.ticks[top]).astype(np.float64)
    order = np.lexsort((~root, seconds, top))
    top_sorted = top[order]
    starts = np.flatnonzero(np.r_[True, top_sorted[1:] != top_sorted[:-1]])
    bounds = [*starts.tolist(), k]
    ids_sorted, secs, fol, par = ids[order], seconds[order], followers[order], parents[order]
    found = [
        Cascade(secs[a:b], fol[a:b], b - a - 1, ids_sorted[a:b], par[a:b]) for a, b in zip(bounds, bounds[1:])
    ]  # a loop over cascades, not posts
    return ReadCascades(rows.name, found)


def edge_target_degree(world: World) -> float:
    """The mean out-degree of an edge's target: the followers a new resharer brings under ``ic`` (SEISMIC's
    ``n_star`` for cascades on this world)."""
    out = np.diff(world.graph.out_indptr)
    return float(out[world.graph.out_indices].mean())


async def simulate(
    world: World,
    registry: Registry,
    *,
    model: str,
    params: dict[str, object],
    origin: str,
    runs: int,
    seed: int,
    workers: int | None = None,
    kernel: Kernel = KERNEL,
) -> list[Cascade]:
    """``runs`` runs of ``model`` with ``params`` on ``world`` from one original poster (``origin``: a seed
    selection, ``ids:A`` or ``random:1``), run ``r`` with session seed ``seed + r``, as cascades whose reshare times
    are drawn from ``kernel`` (a generator seeded by ``seed``). One numpy pass over all runs' adopters; a loop over
    runs only to split them.

    Raises:
        BadParameterError: a bad model, parameter or seed selection (the ensemble's sentence).
        SimulationsFailed: a run failed (a plugin raised).
    """

    request = Ensemble.parse(
        {"text": "cascade", "until_done": True, "model": model, "params": params, "seeds": origin, "runs": runs}
        | {"seed": seed, "trees": True}
        | ({} if workers is None else {"workers": workers}),
        registry,
    )
    res = await run_ensemble(world, request, registry=registry)
    if res.failed:
        raise SimulationsFailed(model, res.failed, runs, res.first_failure)
    out_degree = np.diff(world.graph.out_indptr)
    cols = res.cascades.columns()
    return split(cols, world.columns["ids"], out_degree, runs, np.random.default_rng(seed), kernel)


def split(
    cols: dict[str, np.ndarray],
    ids: np.ndarray,
    out_degree: np.ndarray,
    runs: int,
    rng: np.random.Generator,
    kernel: Kernel = KERNEL,
) -> list[Cascade]:
    """An ensemble's adoption forests (``run``, ``agent``, ``source``, ``generation`` by original id, runs numbered
    from 0 to ``runs - 1``) as cascades with kernel-drawn times (see :func:`simulate`): ``ids`` the world's original
    ids (ascending), ``out_degree`` each agent's follower count."""
    run, agent, source, generation = cols["run"], cols["agent"], cols["source"], cols["generation"]
    span = int(ids.max()) + 2
    key = run * span + agent  # each row's parent as a row: the row whose (run, agent) is the row's (run, source)
    order = np.argsort(key, kind="stable")
    has_parent = generation > 0
    parent = np.full(run.size, -1, dtype=np.int64)
    parent[has_parent] = order[np.searchsorted(key[order], run[has_parent] * span + source[has_parent])]
    if np.any(np.take(agent, parent[has_parent]) != source[has_parent]):
        raise RuntimeError("an adoption's source is not an adopter of the same run")
    times = tree_times(parent, generation, rng, kernel)
    followers = out_degree[np.searchsorted(ids, agent)].astype(np.float64)
    by = np.lexsort((generation > 0, times, run))
    source = np.where(generation > 0, source, -1)
    run, times, followers, agent, source = run[by], times[by], followers[by], agent[by], source[by]
    bounds = np.searchsorted(run, np.arange(runs + 1)).tolist()
    return [Cascade(times[a:b], followers[a:b], b - a - 1, agent[a:b], source[a:b]) for a, b in zip(bounds, bounds[1:])]


#: The latest post a file of simulated cascades keeps: ten years after its original (SEISMIC's kernel has an
#: infinite mean, and a few of its delays are longer than any observation).
WINDOW = 10 * 365 * 86_400


def write_cascades(cascades: list[Cascade], path: str, *, window: float = WINDOW) -> None:
    """Cascades as a file :func:`read_cascades` reads: ``cascade,id,parent,time,followers`` (times whole seconds,
    rounded down; a reshare at its parent's second stays after it), each cascade's posts within ``window`` seconds
    of its original (a later post's reshares are later still, so every parent kept has its row)."""
    cascades = [
        c._replace(**{k: getattr(c, k)[c.times <= window] for k in ("times", "followers", "agents", "parents")})
        for c in cascades
    ]
    sizes = [c.times.size for c in cascades]
    frame = {
        "cascade": np.repeat(np.arange(len(cascades)), sizes),
        "id": np.concatenate([c.agents for c in cascades]).astype(str),
        "parent": np.concatenate([c.parents for c in cascades]).astype(str),
        "time": np.floor(np.concatenate([c.times for c in cascades])).astype(np.int64),
        "followers": np.concatenate([c.followers for c in cascades]).astype(np.int64),
    }
    frame["parent"] = np.where(frame["parent"] == "-1", "", frame["parent"])
    with open(path, "w", encoding="utf-8") as f:
        f.write("cascade,id,parent,time,followers\n")
        rows = zip(*(frame[k].tolist() for k in ("cascade", "id", "parent", "time", "followers")))
        f.writelines(f"{a},{b},{c},{d},{e}\n" for a, b, c, d, e in rows)


__all__ = [
    "GIVE",
    "Cascade",
    "write_cascades",
    "ReadCascades",
    "edge_target_degree",
    "read_cascades",
    "simulate",
    "split",
]
