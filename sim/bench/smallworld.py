"""``agora bench ensembles``: many small runs on the network researchers use most, each figure beside its
yardstick measured in the same run, like against like (issue 47).

SNAP's ego-Facebook (4,039 agents, 88,234 friendships, each both ways; from ``$AGORA_DATA`` or
../shared/data), ``ic`` with ``p`` 0.05 from 10 random seeds, made into a world by ``agora new --edges``
in a temporary folder. Three races:

1. **Whole process** (target 1): ``agora run WORLD --runs 1000 --until-done --json``, timed from the
   command's start to its exit, against ``python sim/bench/cynetdiff_race.py`` doing the same whole job
   (Python's start, reading the edge list, building CyNetDiff's graph, 1,000 cascades, printing the mean).
   The two alternate, ``repeats`` times each, after one untimed run of each (byte code and Numba's cache
   written, the files in the page cache); medians. Met when Agora's time is at most CyNetDiff's.
2. **In process** (target 2), in a fresh process holding only the world: ``world.ensemble(runs=1000)`` of
   the Python API after a warm-up ensemble, on one worker and on one worker per CPU, against CyNetDiff's
   1,000 cascades on the same graph in the same process (its model built once, untimed: as the ensemble's
   world is opened once, untimed). Also each run's fixed cost: an ensemble whose runs reach only their seeds
   (``p`` 0), over its runs, beside the per-run total. Met when all CPUs are at least twice CyNetDiff's
   speed and one worker is no slower than it.
3. **Sweep** (target 6): ``agora sweep WORLD --grid p=0.01,...,0.1 --runs 100 --seeds random:10`` (10
   values, 1,000 runs), timed from start to exit, as it runs by default (``--kernel auto``: batched) against
   the same sweep with ``--kernel engine`` (every run ticked through the engine: what a sweep did before it
   used the batched kernels, less that it ran each run as an ensemble of its own); alternating, medians.
   Met when the default is at least 5 times faster.

Each race is skipped with its reason when ego-Facebook or CyNetDiff is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sim.bench.measure import child_env, fresh_process_json, load_average

#: The targets of issue 47 that this benchmark measures.
TARGETS = {
    "whole_process_over_cynetdiff": 1.0,  # at most
    "in_process_all_cores_speedup": 2.0,  # CyNetDiff's time over Agora's, at least
    "in_process_one_core_over_cynetdiff": 1.0,  # at most
    "sweep_speedup_over_engine": 5.0,  # at least
}

#: The sweep's values of p (10) and runs per value (100).
SWEEP_P = ",".join(f"{p / 100:g}" for p in range(1, 11))
SWEEP_RUNS = 100

_RACE = Path(__file__).with_name("cynetdiff_race.py")

Progress = Callable[[str, float], None] | None


def edge_list() -> Path:
    """ego-Facebook's edge list, from ``$AGORA_DATA`` or ../shared/data beside the checkout."""
    env = os.environ.get("AGORA_DATA")
    folder = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    return folder / "facebook_combined.txt"


def _have_cynetdiff() -> bool:
    try:
        import cynetdiff  # noqa: F401, PLC0415 - optional (the bench extra)
    except ImportError:
        return False
    return True


def _wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, res.stdout


def _median(xs: list[float]) -> float:
    return round(float(np.median(xs)), 3)


def whole_process(db: str, edges: Path, runs: int, p: float, repeats: int, env: dict[str, str]) -> dict[str, Any]:
    """Race 1 (see the module docstring)."""
    agora = [sys.executable, "-m", "sim.cli.main", "run", db, "--inject", "bench", "--model", "ic"]
    agora += ["--param", f"p={p}", "--seeds", "random:10", "--runs", str(runs), "--until-done", "--json"]
    race = [sys.executable, str(_RACE), str(edges), str(runs), str(p)]
    _wall(agora, env)  # untimed: byte code, Numba's cache and the page cache as a user's second run finds them
    _wall(race, env)
    mine, theirs, reached, their_reached = [], [], 0.0, 0.0
    for _ in range(repeats):
        seconds, out = _wall(agora, env)
        mine.append(seconds)
        reached = float(json.loads(out)["mean_reached"])
        seconds, out = _wall(race, env)
        theirs.append(seconds)
        their_reached = float(out.strip())
    ratio = round(float(np.median(mine)) / float(np.median(theirs)), 3)
    return {
        "agora_seconds": _median(mine),
        "agora_seconds_each": [round(x, 3) for x in mine],
        "agora_reached_mean": reached,
        "cynetdiff_script_seconds": _median(theirs),
        "cynetdiff_script_seconds_each": [round(x, 3) for x in theirs],
        "cynetdiff_reached_mean": their_reached,
        "ratio": ratio,
        "target": f"agora at most the CyNetDiff script's time (ratio <= {TARGETS['whole_process_over_cynetdiff']:g})",
        "met": ratio <= TARGETS["whole_process_over_cynetdiff"],
    }


def in_process(db: str, runs: int, p: float, repeats: int) -> dict[str, Any]:
    """Race 2, in this process (``python -m sim.bench.smallworld DB RUNS P REPEATS`` runs it fresh)."""
    import array  # noqa: PLC0415

    from cynetdiff.models import IndependentCascadeModel  # noqa: PLC0415 - the bench extra

    import sim  # noqa: PLC0415 - the Python API, as a notebook imports it
    from sim.runs.transport import default_workers  # noqa: PLC0415

    world = sim.open_world(db)
    g = world.graph
    indptr, indices = np.asarray(g.indptr), np.asarray(g.indices)
    n = len(indptr) - 1
    t = time.perf_counter()
    model = IndependentCascadeModel(
        array.array("I", indptr[:-1].astype(np.uint32).tobytes()),
        array.array("I", indices.astype(np.uint32).tobytes()),
        activation_prob=p,
        rng=1,
    )
    setup = time.perf_counter() - t
    rng = np.random.default_rng(1)
    sets = [rng.choice(n, size=10, replace=False).tolist() for _ in range(runs)]
    fields: dict[str, Any] = {"model": "ic", "params": {"p": p}, "seeds": "random:10", "until_done": True}
    every = default_workers(runs)
    world.ensemble(runs=50, workers=1, kernel="batched", **fields)  # warm-up: the kernels loaded, buffers made
    cy, one, alls, fixed = [], [], [], []
    reached = their = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        total = 0
        for s in sets:
            model.set_seeds(s)
            model.advance_until_completion()
            total += model.get_num_activated_nodes()
        cy.append(time.perf_counter() - t)
        their = total / runs
        t = time.perf_counter()
        reached = world.ensemble(runs=runs, workers=1, **fields).mean_reached
        one.append(time.perf_counter() - t)
        t = time.perf_counter()
        world.ensemble(runs=runs, workers=every, **fields)
        alls.append(time.perf_counter() - t)
        t = time.perf_counter()
        world.ensemble(runs=runs, workers=1, **{**fields, "params": {"p": 0.0}})
        fixed.append(time.perf_counter() - t)
    cy_s, one_s, all_s = float(np.median(cy)), float(np.median(one)), float(np.median(alls))
    speedup, one_ratio = round(cy_s / all_s, 3), round(one_s / cy_s, 3)
    return {
        "runs": runs,
        "workers": every,
        "agora_one_core_seconds": round(one_s, 3),
        "agora_all_cores_seconds": round(all_s, 3),
        "agora_reached_mean": reached,
        "cynetdiff_seconds": round(cy_s, 3),
        "cynetdiff_setup_seconds": round(setup, 3),
        "cynetdiff_reached_mean": their,
        "per_run_ms": round(1000 * one_s / runs, 3),
        "per_run_fixed_ms": round(1000 * float(np.median(fixed)) / runs, 3),
        "all_cores_speedup": speedup,
        "one_core_ratio": one_ratio,
        "targets": {
            "all_cores": f"CyNetDiff's time over Agora's on {every} workers at least "
            f"{TARGETS['in_process_all_cores_speedup']:g}",
            "one_core": "Agora on one worker at most CyNetDiff's time",
        },
        "met": {
            "all_cores": speedup >= TARGETS["in_process_all_cores_speedup"],
            "one_core": one_ratio <= TARGETS["in_process_one_core_over_cynetdiff"],
        },
    }


def sweep(db: str, repeats: int, env: dict[str, str]) -> dict[str, Any]:
    """Race 3 (see the module docstring)."""
    base = [sys.executable, "-m", "sim.cli.main", "sweep", db, "--grid", f"p={SWEEP_P}", "--runs", str(SWEEP_RUNS)]
    base += ["--seeds", "random:10", "--json"]
    engine = [*base, "--kernel", "engine"]
    _wall(base, env)  # untimed, as in race 1
    mine, theirs = [], []
    same = True
    for _ in range(repeats):
        seconds, out = _wall(base, env)
        mine.append(seconds)
        fast = json.loads(out)
        seconds, out = _wall(engine, env)
        theirs.append(seconds)
        slow = json.loads(out)
        same = same and [c["reached"] for c in fast["results"]] == [c["reached"] for c in slow["results"]]
    speedup = round(float(np.median(theirs)) / float(np.median(mine)), 3)
    return {
        "values": SWEEP_P,
        "runs_per_value": SWEEP_RUNS,
        "kernel": sorted({str(c.get("kernel")) for c in fast["results"]}),
        "agora_seconds": _median(mine),
        "agora_seconds_each": [round(x, 3) for x in mine],
        "engine_seconds": _median(theirs),
        "engine_seconds_each": [round(x, 3) for x in theirs],
        "runs_identical": same,
        "speedup": speedup,
        "target": f"at least {TARGETS['sweep_speedup_over_engine']:g} times faster than every run on the engine",
        "met": speedup >= TARGETS["sweep_speedup_over_engine"],
    }


def _unavailable(edges: Path) -> str | None:
    """Why the races cannot run here (the dataset or CyNetDiff missing), or None."""
    if not edges.is_file():
        return f"{edges} is missing: set $AGORA_DATA to the datasets' folder"
    if not _have_cynetdiff():
        return "CyNetDiff is not installed: pip install 'agora-sim[bench]'"
    return None


@contextlib.contextmanager
def _facebook(edges: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """ego-Facebook made into a world by ``agora new --edges`` in a temporary folder, and the environment the
    timed commands run in (byte code cached, as on a user's machine)."""
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="agora-bench-") as tmp:
        db = str(Path(tmp) / "facebook.db")
        new = [sys.executable, "-m", "sim.cli.main", "new", db, "--edges", str(edges)]
        subprocess.run(new, env=env, check=True, capture_output=True)
        yield db, env


def whole_process_race(runs: int = 1000, p: float = 0.05, repeats: int = 3) -> dict[str, Any]:
    """Race 1 alone (``agora bench propagation --small-runs``)."""
    edges = edge_list()
    why = _unavailable(edges)
    if why is not None:
        return {"available": False, "reason": why}
    with _facebook(edges) as (db, env):
        return {"available": True, "runs": runs, "p": p, **whole_process(db, edges, runs, p, repeats, env)}


def bench_small_world(runs: int = 1000, p: float = 0.05, repeats: int = 3, progress: Progress = None) -> dict[str, Any]:
    """The three races (see the module docstring), each with its figure, yardstick, ratio and verdict."""
    edges = edge_list()
    out: dict[str, Any] = {"dataset": "SNAP ego-Facebook", "model": "ic", "p": p, "seeds": "random:10"}
    out["load_average"] = load_average()
    why = _unavailable(edges)
    if why is not None:
        out["available"] = False
        out["reason"] = why
        return out
    if progress:
        progress("making the world (agora new --edges)", 0.0)
    with _facebook(edges) as (db, env):
        if progress:
            progress("whole process: agora run against the CyNetDiff script", 0.1)
        out["whole_process"] = whole_process(db, edges, runs, p, repeats, env)
        if progress:
            progress("in process: world.ensemble against CyNetDiff's cascades", 0.45)
        out["in_process"] = fresh_process_json(
            ["sim.bench.smallworld", db, str(runs), str(p), str(repeats)], "in process"
        )
        if progress:
            progress("sweep: the default kernel against the engine", 0.7)
        out["sweep"] = sweep(db, repeats, env)
        if progress:
            progress("done", 1.0)
    out["available"] = True
    out["agents"], out["runs"], out["repeats"] = 4039, runs, repeats
    out["verdict"] = {
        "whole_process": out["whole_process"]["met"],
        "in_process_all_cores": out["in_process"]["met"]["all_cores"],
        "in_process_one_core": out["in_process"]["met"]["one_core"],
        "sweep": out["sweep"]["met"],
    }
    return out


def small_world_lines(r: dict[str, Any]) -> list[str]:
    """The races as text: each figure, its yardstick, the ratio and the verdict."""
    if not r.get("available"):
        return [f"skipped: {r.get('reason')}"]
    w, i, s = r["whole_process"], r["in_process"], r["sweep"]
    load = r.get("load_average")
    return [
        f"ego-Facebook, ic p={r['p']}, 10 random seeds, {r['runs']:,} runs; medians of {r['repeats']}"
        + (f"; load average {load[0]:.2f}" if load else ""),
        f"whole process  agora run {w['agora_seconds']:.2f} s   CyNetDiff script {w['cynetdiff_script_seconds']:.2f} s"
        f"   ratio {w['ratio']:.2f} (target <= 1): {'met' if w['met'] else 'not met'}",
        f"in process     1 worker {i['agora_one_core_seconds']:.2f} s, {i['workers']} workers "
        f"{i['agora_all_cores_seconds']:.2f} s   CyNetDiff {i['cynetdiff_seconds']:.2f} s   "
        f"speed-up {i['all_cores_speedup']:.2f} (target >= 2): {'met' if i['met']['all_cores'] else 'not met'}; "
        f"one worker {i['one_core_ratio']:.2f} (target <= 1): {'met' if i['met']['one_core'] else 'not met'}",
        f"               per run {i['per_run_ms']:.3f} ms, of which fixed (a run reaching only its seeds) "
        f"{i['per_run_fixed_ms']:.3f} ms",
        f"sweep          10 x 100 runs {s['agora_seconds']:.2f} s   every run on the engine {s['engine_seconds']:.2f} s"
        f"   speed-up {s['speedup']:.2f} (target >= 5): {'met' if s['met'] else 'not met'}; runs identical: "
        f"{s['runs_identical']}",
    ]


if __name__ == "__main__":  # python -m sim.bench.smallworld DB RUNS P REPEATS: race 2 in a fresh process
    _, _db, _runs, _p, _repeats = sys.argv
    print(json.dumps(in_process(_db, int(_runs), float(_p), int(_repeats))))
