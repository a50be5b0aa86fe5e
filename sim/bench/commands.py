"""``agora bench commands``: the commands a user runs on a big world, timed as the user sees them.

Each repetition runs ``agora new``, ``agora save``, ``agora load`` and ``agora analyze --all`` as separate
processes, one after the other on the same files (what a session at the terminal does), and takes each
one's wall-clock time and peak RSS (``wait4``'s ``ru_maxrss`` of that process alone). Beside each, a
plain yardstick measured in the same run on the same machine:

- ``new`` and ``load``: the same rows put in SQLite the plain way (``executemany`` from numpy: one row
  per agent with the 16 columns of ``agent_rows``, one row per edge), which is what the world file's
  mirrors cost before they were written in bulk;
- ``save``: ``np.save`` of the world's arrays, uncompressed and fsynced (the raw cost of the bytes);
- ``analyze``: igraph's Leiden (modularity, two iterations) on an igraph graph built from numpy arrays,
  the work that dominates ``--all``.

Before each command (and each yardstick) ``os.sync()`` writes to disk what the one before left in the page
cache, so that none pays for another's writing. Figures are medians over the repetitions; targets are the
1,000,000-agent ones, scaled linearly with the number of agents above a million.

What a world's history costs (``events`` in the report): after the last repetition, one ``ic`` cascade
(p = 0.1 from 100 random seeds; about a third of a million adoptions at a million agents) is run into the
world with ``agora run``, then ``agora save`` with its events and with ``--slim``, and ``agora load`` of
each, ``repeats`` times each: the snapshots' sizes, and the medians of the seconds and peak RSS of each.

What encryption at rest costs (``encryption`` in the report, with ``encrypted``; no analysis needed): after
the repetitions above, ``repeats`` repetitions of ``agora new``, ``save``, ``load``, ``run`` (the loaded world
opened, :data:`TICK_RUN`: ``--steps 2``, as the injection's tick only seeds, so the second spreads the cascade
one round from 100 random seeds at p = 0.05, and its checkpoint), ``tick``: one IC tick of a live world
(the engine's simulation with the world's writer, open already, in a process of its own), the second
after an injection of 1,000 random seeds at p = 0.05, timed from the step's start to the commit of its
adoption events, and ``checkpoint``: the checkpoint after that tick (the world file brought up to it, as a
run does every N ticks), each on a clear world and on an encrypted one (``new --encrypt``; the key in a
mode-600 file of the bench folder, given with ``--key-file``). Here the
yardstick is the clear world: each operation's clear and encrypted runs alternate within a repetition (which
goes first swaps from one repetition to the next), each after ``os.sync()``, so both meet the machine in the
same state. Per operation: the seconds and peak RSS of each run, their medians, ``ratio`` (the encrypted
median over the clear one) and whether it is within :data:`ENCRYPTION_TARGET` (1.3x, issue 50). The files are
checked as it goes: the encrypted world, snapshot and loaded world are encrypted, the clear ones are not, and
both ticks reach agents beyond their seeds (else ``RuntimeError``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.analysis.view import undirected_pairs
from sim.bench.measure import BenchWorld, Progress, child_env, save_npy
from sim.core import sealed, worldkey
from sim.core.persona import CODE_COLUMNS
from sim.engine.simulation import Simulation
from sim.llm.service import LLMService
from sim.store.snapshot import load_snapshot, snapshot_history
from sim.store.worldfile import open_world
from sim.store.worldrows import world_arrays
from sim.store.writer import WorldWriter

#: Targets at 1,000,000 agents / 10,000,000 edges (seconds, MB); new, load and analyze are issue 47's.
TARGETS = {
    "new_s": 10.0,
    "load_s": 3.0,
    "save_s": 3.0,
    "analyze_s": 35.0,
    "new_rss_mb": 800.0,
    "load_rss_mb": 800.0,
    "analyze_rss_mb": 1200.0,
}


def run_command(args: list[str], cwd: str, out: list[str] | None = None, module: str = "sim") -> tuple[float, float]:
    """Run ``python -m sim ARGS`` (or ``module``) as a user would (no progress bar); its wall-clock seconds and
    peak RSS (MB). With ``out``, what it printed on stdout is appended to it.

    Raises:
        RuntimeError: the command failed (its error output in the message).
    """
    env = child_env("AGORA_PROGRESS")
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as printed:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL if out is None else printed,
            stderr=errors,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own resource use, peak RSS included
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"agora {' '.join(args)} failed ({proc.returncode}): {text}")
        if out is not None:
            printed.seek(0)
            out.append(printed.read().decode(errors="replace"))
    return seconds, usage.ru_maxrss / 1024.0  # KiB on Linux


def _plain_sqlite(world: Any, path: str) -> float:
    """Yardstick of ``new``/``load``: the world's agent rows (16 columns) and edge rows written with
    ``executemany`` from numpy (``tolist``), one transaction, fsynced."""

    if os.path.exists(path):
        os.remove(path)
    t0 = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF"):
        con.execute(pragma)
    con.execute(
        "CREATE TABLE agent_rows (id INTEGER PRIMARY KEY, orig_id INTEGER NOT NULL UNIQUE, community INTEGER, "
        "interests INTEGER, susceptibility REAL, reputation REAL, influence REAL, status INTEGER, "
        "activity_profile INTEGER, activity_rate REAL, first INTEGER, last INTEGER, trait INTEGER, "
        "occupation INTEGER, hobby INTEGER, style INTEGER)"
    )
    con.execute(
        "CREATE TABLE relationships (src INTEGER NOT NULL, dst INTEGER NOT NULL, trust REAL NOT NULL, "
        "PRIMARY KEY (src, dst)) WITHOUT ROWID"
    )
    con.execute("BEGIN")
    c, n, batch = world.columns, world.n, 200_000
    fields = (
        [
            ("id", "<i8"),
            ("orig", "<i8"),
            ("community", "<i8"),
            ("interests", "<i8"),
            ("s", "<f8"),
            ("r", "<f8"),
            ("i", "<f8"),
            ("status", "<i8"),
            ("profile", "<i8"),
            ("rate", "<f8"),
        ]
        + [(k, "<i8") for k in CODE_COLUMNS]
        + [("style", "<i8")]
    )
    for a in range(0, n, batch):
        b = min(n, a + batch)
        rec = np.empty(b - a, dtype=fields)
        rec["id"], rec["orig"], rec["community"] = np.arange(a, b), c["ids"][a:b], c["community"][a:b]
        rec["interests"] = c["interests"][a:b].view(np.int64)
        rec["s"], rec["r"], rec["i"] = c["susceptibility"][a:b], c["reputation"][a:b], c["influence"][a:b]
        rec["status"], rec["profile"], rec["rate"] = (
            c["status"][a:b],
            c["activity_profile"][a:b],
            c["activity_rate"][a:b],
        )
        for j, k in enumerate(CODE_COLUMNS):
            rec[k] = c["persona_codes"][a:b, j]
        rec["style"] = c["persona_style"][a:b]
        con.executemany(f"INSERT INTO agent_rows VALUES ({', '.join('?' * len(fields))})", rec.tolist())
    g = world.graph
    src = g.sources()
    e, batch = g.num_edges, 1_000_000
    for a in range(0, e, batch):
        b = min(e, a + batch)
        rec = np.empty(b - a, dtype=[("s", "<i8"), ("d", "<i8"), ("t", "<f8")])
        rec["s"], rec["d"], rec["t"] = src[a:b], g.out_indices[a:b], g.trust[a:b]
        con.executemany("INSERT INTO relationships VALUES (?, ?, ?)", rec.tolist())
    con.execute("COMMIT")
    con.close()
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - t0
    os.remove(path)
    return seconds


def _npy_save(world: Any, folder: str) -> float:
    """Yardstick of ``save``: ``np.save`` of the world's arrays, uncompressed, fsynced."""

    os.makedirs(folder, exist_ok=True)
    t0 = time.perf_counter()
    save_npy(world_arrays(world), folder)
    seconds = time.perf_counter() - t0
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


def _igraph_leiden(world: Any) -> float:
    """Yardstick of ``analyze --all``: an igraph graph of the connected pairs built from a numpy array, then
    igraph's Leiden (modularity, two iterations)."""
    import igraph as ig  # noqa: PLC0415 - heavy (~0.5 s to import), needed only for analysis

    a, b = undirected_pairs(world.graph)
    t0 = time.perf_counter()
    g = ig.Graph(n=world.n, edges=np.column_stack([a, b]), directed=False)
    g.community_leiden(objective_function="modularity", n_iterations=2)
    return time.perf_counter() - t0


def _yardstick(name: str, snap: str, folder: str) -> float:
    """Seconds of yardstick ``name`` (``plain``, ``npy`` or ``leiden``) on the world in ``snap``, measured in
    a fresh process (``python -m sim.bench.commands``)."""
    res = subprocess.run(
        [sys.executable, "-m", "sim.bench.commands", name, snap, folder],
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"yardstick {name} failed: {res.stderr.strip()[-2000:]}")
    return float(res.stdout.strip().splitlines()[-1])


def _tick_main(path: str, key_file: str) -> int:
    """``python -m sim.bench.commands tick WORLD KEYFILE|-``: one IC tick of the world, open with its writer,
    timed from the step's start to the commit of its adoption events, then the checkpoint after it (the world
    file brought up to the tick); prints ``{"seconds", "checkpoint_seconds", "reached"}`` as JSON."""
    if key_file != "-":
        worldkey.use_key_file(key_file)
    print(json.dumps(asyncio.run(_tick(path))))
    return 0


async def _tick(path: str) -> dict[str, Any]:
    world = await open_world(path)
    writer = await WorldWriter(path).start()
    try:
        live = Simulation(world, writer=writer, llm=LLMService.offline(world))
        live.inject("bench tick", model="ic", params={"p": 0.05}, seeds="random:1000")
        await live.step()  # the injection's tick: the seeds adopt
        await live.checkpoint()
        before = sum(s.reached for s in world.sessions)
        t0 = time.perf_counter()
        await live.step()  # one round of the cascade ...
        await writer.flush()  # ... its adoption events committed
        t1 = time.perf_counter()
        await live.checkpoint()  # the world file brought up to the tick (every N ticks in a run)
        t2 = time.perf_counter()
        reached = sum(s.reached for s in world.sessions) - before
    finally:
        await writer.close()
    return {"seconds": t1 - t0, "checkpoint_seconds": t2 - t1, "reached": int(reached)}


def _yardstick_main(argv: list[str]) -> int:
    """``python -m sim.bench.commands plain|npy|leiden SNAPSHOT FOLDER``: print one yardstick's seconds (or
    ``tick WORLD KEYFILE|-``: :func:`_tick_main`)."""
    if argv[:1] == ["tick"]:
        return _tick_main(argv[1], argv[2])
    name, snap, folder = argv
    world = load_snapshot(snap)
    gc.collect()
    if name == "plain":
        seconds = _plain_sqlite(world, os.path.join(folder, "plain.db"))
    elif name == "npy":
        seconds = _npy_save(world, os.path.join(folder, "npy"))
    else:
        seconds = _igraph_leiden(world)
    print(f"{seconds:.6f}")
    return 0


def _median(xs: list[float]) -> float:
    return round(float(np.median(xs)), 3)


#: The cascade that gives the world its events (``agora run`` arguments after the world).
EVENTS_RUN = ["--inject", "bench news", "--model", "ic", "--param", "p=0.1", "--seeds", "random:100", "--until-done"]


def _bench_events(db: str, folder: str, repeats: int, step: Callable[[str], None]) -> dict[str, Any]:
    """``agora save`` with the events and with ``--slim``, and ``agora load`` of each, after one cascade run
    into ``db`` (see the module docstring): sizes, seconds and peak RSS, medians and ratios."""
    os.sync()
    run_seconds, _ = run_command(["run", db, *EVENTS_RUN], folder)
    step("agora run (the events)")
    kinds = {"with_events": [], "slim": ["--slim"]}
    times: dict[str, dict[str, list[float]]] = {
        k: {"save": [], "load": [], "save_rss": [], "load_rss": []} for k in kinds
    }
    sizes: dict[str, int] = {}
    history = None
    for r in range(repeats):
        for kind, flags in kinds.items():
            snap, loaded = (os.path.join(folder, f"{kind}{ext}") for ext in (".snap", ".db"))
            for command, what in (
                (["save", db, snap, "--force", *flags], "save"),
                (["load", snap, loaded, "--force"], "load"),
            ):
                os.sync()
                seconds, rss = run_command(command, folder)
                times[kind][what].append(seconds)
                times[kind][f"{what}_rss"].append(rss)
                step(f"agora {what} {kind.replace('_', ' ')} ({r + 1}/{repeats})")
            sizes[kind] = os.path.getsize(snap)
            if kind == "with_events":
                history = snapshot_history(snap)
            for f in (snap, loaded, loaded + "-wal", loaded + "-shm"):
                if os.path.exists(f):
                    os.remove(f)
    out: dict[str, Any] = {
        "run": {
            "command": "agora run W " + " ".join(f"'{a}'" if " " in a else a for a in EVENTS_RUN),
            "seconds": round(run_seconds, 3),
            "events": history["events"] if history else 0,
            "exposures": history["exposures"] if history else 0,
        }
    }
    for kind in kinds:
        t = times[kind]
        out[kind] = {
            "snapshot_bytes": sizes[kind],
            "snapshot_mb": round(sizes[kind] / 2**20, 1),
            "save_seconds": [round(x, 3) for x in t["save"]],
            "save_seconds_median": _median(t["save"]),
            "save_peak_rss_mb_max": round(max(t["save_rss"]), 1),
            "load_seconds": [round(x, 3) for x in t["load"]],
            "load_seconds_median": _median(t["load"]),
            "load_peak_rss_mb_max": round(max(t["load_rss"]), 1),
        }
    e, s = out["with_events"], out["slim"]
    out["events_cost"] = {
        "snapshot_bytes": e["snapshot_bytes"] - s["snapshot_bytes"],
        "bytes_per_event": round((e["snapshot_bytes"] - s["snapshot_bytes"]) / max(1, out["run"]["events"]), 2),
        "size_ratio": round(e["snapshot_bytes"] / max(1, s["snapshot_bytes"]), 3),
        "save_seconds": round(e["save_seconds_median"] - s["save_seconds_median"], 3),
        "load_seconds": round(e["load_seconds_median"] - s["load_seconds_median"], 3),
    }
    return out


#: One IC tick on the loaded world (``agora run`` arguments after the world): ``--steps 2``, since the
#: injection's tick only seeds its session and the second spreads the cascade one round.
TICK_RUN = ["--steps", "2", "--inject", "bench tick", "--model", "ic", "--param", "p=0.05", "--seeds", "random:100"]
#: Issue 50's target: an operation on an encrypted world takes at most this times the same on a clear one.
ENCRYPTION_TARGET = 1.3
#: The operations of the encryption section, in the order each repetition runs them; the two kinds of world.
ENCRYPTION_OPS = ("new", "save", "load", "run", "tick", "checkpoint")
#: The operations run as commands of their own (``checkpoint`` is timed in ``tick``'s process, after its tick).
_RUN_OPS = ENCRYPTION_OPS[:-1]
KINDS = ("clear", "encrypted")
#: The passphrase in the bench's key file (a benchmark's key, protecting nothing).
_BENCH_KEY = "agora bench commands --encrypted"


def _encryption_commands(folder: str, world: list[str], key_file: str) -> dict[str, dict[str, list[str]]]:
    """Each operation's command line on the clear world and on the encrypted one (``--key-file`` only there:
    ``save`` of an encrypted world is encrypted, ``load`` of an encrypted snapshot makes an encrypted world)."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind in KINDS:
        db, snap, loaded = (os.path.join(folder, f"{kind}{ext}") for ext in (".db", ".snap", "-loaded.db"))
        key = ["--key-file", key_file] if kind == "encrypted" else []
        out[kind] = {
            "new": ["new", db, *world, "--force", *(["--encrypt"] if key else []), *key],
            "save": ["save", db, snap, "--force", *key],
            "load": ["load", snap, loaded, "--force", *key],
            "run": ["run", loaded, *TICK_RUN, "--json", *key],
            "tick": ["tick", loaded, key_file if key else "-"],
            "checkpoint": ["tick", loaded, key_file if key else "-"],
        }
    return out


def _check_encryption(op: str, kind: str, command: list[str], printed: list[str]) -> int:
    """Check that the file ``op`` wrote (the world, the snapshot, the loaded world, the ticked world) is
    encrypted exactly when ``kind`` is; for ``tick``, return the agents its round reached through the graph.

    Raises:
        RuntimeError: a file is clear where it should be encrypted (or the reverse), or the tick spread nothing.
    """
    path = command[2] if op in ("save", "load") else command[1]
    encrypted = sealed.sealed_file(path) if op == "save" else worldkey.is_encrypted(path)
    if encrypted != (kind == "encrypted"):
        raise RuntimeError(f"agora {op} left {path} {'encrypted' if encrypted else 'clear'} on the {kind} side")
    if op not in ("run", "tick"):
        return 0
    last = json.loads(printed[-1].strip().splitlines()[-1])
    reached = int(last["runs"][0]["graph_reached"] if op == "run" else last["reached"])
    if reached <= 0:
        raise RuntimeError(f"{op} on {path} reached no agent beyond its seeds")
    return reached


def _bench_encryption(folder: str, world: list[str], repeats: int, step: Callable[[str], None]) -> dict[str, Any]:
    """``new``, ``save``, ``load`` and one IC tick on a clear world and on an encrypted one, alternating, in
    ``repeats`` repetitions (see the module docstring); the section ``encryption`` of the report."""
    key_file = os.path.join(folder, "world.key")
    if os.path.exists(key_file):
        os.remove(key_file)
    with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(_BENCH_KEY + "\n")
    commands = _encryption_commands(folder, world, key_file)
    runs: dict[str, dict[str, dict[str, list[float]]]] = {
        op: {kind: {"seconds": [], "rss": []} for kind in KINDS} for op in ENCRYPTION_OPS
    }
    reached: dict[str, list[int]] = {f"{op}.{kind}": [] for op in ("run", "tick") for kind in KINDS}
    worlds = [f for kind in KINDS for f in commands[kind]["save"][1:3] + commands[kind]["load"][2:3]]
    files = [f + extra for f in worlds for extra in ("", "-wal", "-shm")]
    try:
        for r in range(repeats):
            for op in _RUN_OPS:
                for kind in KINDS if r % 2 == 0 else KINDS[::-1]:  # who goes first swaps each repetition
                    printed: list[str] = []
                    os.sync()
                    module = "sim.bench.commands" if op == "tick" else "sim"
                    seconds, rss = run_command(commands[kind][op], folder, printed, module)
                    if op == "tick":  # the tick and the checkpoint after it, timed inside the open world's process
                        timed = json.loads(printed[-1].strip().splitlines()[-1])
                        seconds = float(timed["seconds"])
                        runs["checkpoint"][kind]["seconds"].append(float(timed["checkpoint_seconds"]))
                        runs["checkpoint"][kind]["rss"].append(rss)
                    runs[op][kind]["seconds"].append(seconds)
                    runs[op][kind]["rss"].append(rss)
                    got = _check_encryption(op, kind, commands[kind][op], printed)
                    if op in ("run", "tick"):
                        reached[f"{op}.{kind}"].append(got)
                    step(f"agora {op} {kind} ({r + 1}/{repeats})")
            for f in files:
                if os.path.exists(f):
                    os.remove(f)
    finally:
        for f in [*files, key_file]:
            if os.path.exists(f):
                os.remove(f)
    return _encryption_report(runs, reached, commands, folder)


def _encryption_report(
    runs: dict[str, dict[str, dict[str, list[float]]]],
    reached: dict[str, list[int]],
    commands: dict[str, dict[str, list[str]]],
    folder: str,
) -> dict[str, Any]:
    """The section ``encryption``: per operation, each kind's seconds and peak RSS (and medians), the ratio of
    the medians (encrypted over clear) and whether it is within the target."""
    out: dict[str, Any] = {"yardstick": "the same command on a clear world, alternating with the encrypted one"}
    within = True
    for op in ENCRYPTION_OPS:
        entry: dict[str, Any] = {}
        for kind in KINDS:
            prefix = "python -m sim.bench.commands " if op in ("tick", "checkpoint") else "agora "
            line = prefix + " ".join(commands[kind][op]).replace(folder + os.sep, "W/")
            sec, rss = runs[op][kind]["seconds"], runs[op][kind]["rss"]
            entry[f"{kind}_command"] = line
            # Microseconds kept: a live tick takes milliseconds, and the ratio is of these medians.
            entry[f"{kind}_seconds"] = [round(x, 6) for x in sec]
            entry[f"{kind}_seconds_median"] = round(float(np.median(sec)), 6)
            entry[f"{kind}_peak_rss_mb"] = [round(x, 1) for x in rss]
            entry[f"{kind}_peak_rss_mb_median"] = round(float(np.median(rss)), 1)
        clear_s, enc_s = (float(np.median(runs[op][kind]["seconds"])) for kind in KINDS)
        clear_mb, enc_mb = (float(np.median(runs[op][kind]["rss"])) for kind in KINDS)
        entry["ratio"] = round(enc_s / max(clear_s, 1e-9), 3)
        entry["rss_ratio"] = round(enc_mb / max(clear_mb, 1e-9), 3)
        entry["target_ratio"] = ENCRYPTION_TARGET
        entry["within_target"] = entry["ratio"] <= ENCRYPTION_TARGET
        if op in ("run", "tick"):
            entry["graph_reached"] = {kind: reached[f"{op}.{kind}"] for kind in KINDS}
        within = within and entry["within_target"]
        out[op] = entry
    out["all_within_target"] = within
    return out


#: What each command's yardstick does.
YARDSTICKS = {
    "new": "agent and edge rows written the plain way (executemany from numpy, one row per edge)",
    "load": "agent and edge rows written the plain way (executemany from numpy, one row per edge)",
    "save": "np.save of the world's arrays, uncompressed, fsynced",
    "analyze": "igraph Leiden (modularity, 2 iterations) on an igraph graph built from numpy arrays",
}


def _command_entry(
    name: str, command: str, runs: dict[str, list[float]], yard: list[float], scale: float
) -> dict[str, Any]:
    """One command's report: its seconds and peak RSS per run, its yardstick's seconds, their ratio and its
    targets (the 1M-agent ones times ``scale``)."""
    sec, rss_mb = runs["seconds"], runs["rss"]
    entry: dict[str, Any] = {
        "command": command,
        "seconds": [round(x, 3) for x in sec],
        "seconds_median": _median(sec),
        "peak_rss_mb": [round(x, 1) for x in rss_mb],
        "peak_rss_mb_max": round(max(rss_mb), 1),
        "yardstick": {
            "what": YARDSTICKS[name],
            "seconds": [round(x, 3) for x in yard],
            "seconds_median": _median(yard),
        },
    }
    entry["ratio_to_yardstick"] = round(entry["seconds_median"] / max(entry["yardstick"]["seconds_median"], 1e-9), 3)
    entry["target_seconds"] = round(TARGETS[f"{name}_s"] * scale, 1)
    entry["within_target"] = entry["seconds_median"] <= entry["target_seconds"]
    if f"{name}_rss_mb" in TARGETS:
        entry["target_peak_rss_mb"] = round(TARGETS[f"{name}_rss_mb"] * scale, 1)
        entry["within_target"] = entry["within_target"] and entry["peak_rss_mb_max"] <= entry["target_peak_rss_mb"]
    return entry


@dataclass(frozen=True)
class CommandsBench(BenchWorld):
    """What :func:`bench_commands` measures on: the world (as ``agora new`` makes it), the runs of each command
    (``repeats``), the ``folder`` for the files (None: a temporary one), whether ``analyze --all`` is timed
    (``analysis``), whether a history's cost is (``events``) and whether encryption's is (``encrypted``)."""

    repeats: int = 3
    folder: str | None = None
    analysis: bool = True
    events: bool = True
    encrypted: bool = False


def bench_commands(bench: CommandsBench | int = 1_000_000, progress: Progress = None, **fields: Any) -> dict[str, Any]:
    """Time ``agora new``, ``save``, ``load`` and ``analyze --all`` (``repeats`` times each, fresh processes)
    beside their yardsticks, with ``events`` what a world's events cost its snapshots and with ``encrypted``
    what encryption at rest costs ``new``, ``save``, ``load`` and a tick (see the module docstring), on
    ``bench`` (or a world of that many agents, the other fields of :class:`CommandsBench` as keywords); report
    medians, ratios and targets as JSON data."""
    bench = CommandsBench.of(bench, **fields)
    if bench.encrypted:
        worldkey.require_extra("agora bench commands --encrypted")
    agents, seed, repeats, events = bench.agents, bench.seed, bench.repeats, bench.events
    own = bench.folder is None
    folder = bench.folder or tempfile.mkdtemp(prefix="agora-bench-commands-")
    os.makedirs(folder, exist_ok=True)
    names = ["new", "save", "load"] + (["analyze"] if bench.analysis else [])
    runs: dict[str, dict[str, list[float]]] = {k: {"seconds": [], "rss": []} for k in names}
    yard: dict[str, list[float]] = {k: [] for k in names}
    steps = repeats * (len(names) + 3) + (1 + 4 * repeats if events else 0)
    steps += 2 * len(_RUN_OPS) * repeats if bench.encrypted else 0
    done = 0

    def step(what: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(what, done / steps)

    db, snap, db2 = (os.path.join(folder, f) for f in ("bench.db", "bench.snap", "loaded.db"))
    world = ["--agents", str(agents), "--avg-degree", str(bench.avg_degree), "--seed", str(seed)]
    commands = {
        "new": ["new", db, *world, "--force"],
        "save": ["save", db, snap, "--force"],
        "load": ["load", snap, db2, "--force"],
        "analyze": ["analyze", db2, "--all"],
    }
    history: dict[str, Any] | None = None
    encryption: dict[str, Any] | None = None
    try:
        for r in range(repeats):
            for name in names:
                os.sync()  # what the command before wrote is on disk: each starts from the same state
                seconds, rss = run_command(commands[name], folder)
                runs[name]["seconds"].append(seconds)
                runs[name]["rss"].append(rss)
                step(f"agora {name} ({r + 1}/{repeats})")
            # The yardsticks, on the world just made (alternating with the commands, so both meet the machine
            # in the same state), each in a process of its own: this one stays small, so the commands it
            # starts report their own peak RSS (a child's high-water mark starts from its parent's).
            os.sync()
            plain = _yardstick("plain", snap, folder)
            yard["new"].append(plain)
            yard["load"].append(plain)
            step("yardstick: plain SQLite rows")
            yard["save"].append(_yardstick("npy", snap, folder))
            step("yardstick: np.save")
            if bench.analysis:
                yard["analyze"].append(_yardstick("leiden", snap, folder))
            step("yardstick: igraph Leiden")
            if events and r == repeats - 1:
                history = _bench_events(db, folder, repeats, step)
            for f in (db, snap, db2):
                for extra in ("", "-wal", "-shm"):
                    if os.path.exists(f + extra):
                        os.remove(f + extra)
        if bench.encrypted:
            encryption = _bench_encryption(folder, world, repeats, step)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    scale = max(1.0, agents / 1_000_000)
    out = bench.report("commands", seed=seed, repeats=repeats, cpu_count=os.cpu_count(), commands={})
    within = True
    for name in names:
        command = "agora " + " ".join(commands[name]).replace(folder + os.sep, "W/")
        entry = _command_entry(name, command, runs[name], yard[name], scale)
        within = within and entry["within_target"]
        out["commands"][name] = entry
    out["targets_scaled_from_1m_by"] = scale
    out["all_within_targets"] = within
    if history is not None:
        out["events"] = history
    if encryption is not None:
        out["encryption"] = encryption
    return out


if __name__ == "__main__":
    sys.exit(_yardstick_main(sys.argv[1:]))
