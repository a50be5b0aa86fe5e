"""``agora sweep``: grid expansion and validation, agreement with ``run_cascades``, and identical results
in this process, in a process pool and on a local Ray cluster, with the world loaded once per worker."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.cli.main import main
from sim.engine.requests import parse_grid
from sim.runs.sweep import expand_grid
from sim.runs.transport import fork_available

ROOT = Path(__file__).resolve().parents[1]

FRAGILE = '''
from plugins.ic import IndependentCascade
from sim.plugin import Param


class Fragile(IndependentCascade):
    """ic that raises in its first round when explode is true (a model failing mid-run)."""

    name = "fragile"
    params = {**IndependentCascade.params, "explode": Param(bool, False, help="raise in step")}

    def step(self, ctx):
        if self.p["explode"]:
            raise RuntimeError("boom")
        return super().step(ctx)
'''


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str) -> tuple[int, str, str]:
    """``agora ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def sweep_json(*args: str, code: int = 0) -> dict:
    got, out, err = cli("sweep", *args, "--json")
    assert got == code, err
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def world_file(tmp_path_factory) -> Path:
    from sim.store.create import synthetic_world
    from sim.store.worldfile import save_world

    path = tmp_path_factory.mktemp("sweep") / "small.db"
    asyncio.run(save_world(synthetic_world("small", 2500, avg_degree=8, seed=7), str(path)))
    return path


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "fragile.py").write_text(FRAGILE)
    return folder


GRID = ("--grid", "p=0.05,0.2", "--runs", "4")


@pytest.fixture(scope="module")
def pool_result(world_file) -> dict:
    """The reference sweep: a process pool of two workers."""
    before = digest(world_file)
    result = sweep_json(str(world_file), *GRID, "--workers", "2")
    assert digest(world_file) == before
    return result


def runs_of(result: dict) -> list[list[dict]]:
    return [c["per_run"] for c in result["results"]]


def test_grid_expands_in_the_order_given():
    grid = parse_grid(["p=0.05, 0.2", "trust_weighted=false,true"])
    assert grid == [("p", ["0.05", "0.2"]), ("trust_weighted", ["false", "true"])]
    assert expand_grid(grid) == [
        {"p": "0.05", "trust_weighted": "false"},
        {"p": "0.05", "trust_weighted": "true"},
        {"p": "0.2", "trust_weighted": "false"},
        {"p": "0.2", "trust_weighted": "true"},
    ]
    assert expand_grid([]) == [{}]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--grid", "p"], "is not KEY=V1,V2"),
        (["--grid", "p=,"], "lists no values"),
        (["--grid", "p=0.1", "--grid", "p=0.2"], "given twice"),
        (["--grid", "q=1,2"], "has no parameter 'q'"),
        (["--grid", "p=0.1,lots"], "p=lots is invalid"),
        (["--grid", "p=0.1,1.5"], "p=1.5 is invalid"),
        (["--grid", "p=0.1", "--param", "p=0.2"], "both swept"),
        (["--model", "nosuch"], "unknown model 'nosuch'"),
        (["--seeds", "ids:99999999"], "99999999"),
        (["--seeds", "most:3"], "unknown seed method 'most'"),
        (["--topic", "nosuchtopic"], "nosuchtopic"),
        (["--plugins", "no/such/folder"], "plugin folder"),
    ],
)
def test_mistakes_are_one_line_exit_2_before_any_run(world_file, args, needle):
    before = digest(world_file)
    t0 = time.perf_counter()
    code, out, err = cli("sweep", str(world_file), "--runs", "3", *args)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: "), err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert (
        time.perf_counter() - t0 < 60
    )  # only a bound on a hang; the empty output and the untouched world show nothing ran
    assert digest(world_file) == before


def test_missing_ray_is_one_sentence(world_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now fails as if not installed
    code, out, err = cli("sweep", str(world_file), "--runs", "2", "--ray", "auto")
    assert code == 2 and out == ""
    assert err == "agora: error: --ray needs the optional extra: pip install 'agora-sim[ray]'\n"


def test_sweep_equals_run_cascades_per_seed(world_file):
    from sim.model.registry import Registry
    from sim.runs.runner import run_cascades
    from sim.store.worldfile import open_world

    result = sweep_json(str(world_file), *GRID, "--seed", "5", "--workers", "1")
    assert result["backend"] == "process" and result["workers"] == 1
    assert result["session_seeds"] == [5, 6, 7, 8]
    world = asyncio.run(open_world(str(world_file)))
    registry = Registry()
    for combo, p in zip(result["results"], ("0.05", "0.2")):
        direct = asyncio.run(
            run_cascades(
                world,
                registry=registry,
                text="sweep",
                model="ic",
                params={"p": p},
                runs=4,
                seed=5,
                until_done=True,
                llm={"offline": True},
            )
        )
        assert combo["params"] == direct["params"]
        assert combo["grid"] == {"p": float(p)}
        assert combo["reached"] == [r["reached"] for r in direct["runs"]]
        assert combo["peak_tick"] == [r["peak_tick"] for r in direct["runs"]]
        assert [r["ticks"] for r in combo["per_run"]] == [r["ticks"] for r in direct["runs"]]
        assert combo["mean_reached"] == pytest.approx(direct["mean_reached"])
        assert combo["ci95"] == pytest.approx(direct["ci95"])
        assert combo["mean_peak_tick"] == pytest.approx(direct["mean_peak_tick"])
    low, high = result["results"]
    assert high["mean_reached"] > 10 * low["mean_reached"]
    assert min(high["reached"]) > max(low["reached"])
    assert len(set(high["reached"])) > 1  # the seeds differ between runs


def test_process_pool_equals_one_process(world_file, pool_result):
    single = sweep_json(str(world_file), *GRID, "--workers", "1")
    assert pool_result["workers"] == 2
    assert runs_of(pool_result) == runs_of(single)
    assert [c["mean_reached"] for c in pool_result["results"]] == [c["mean_reached"] for c in single["results"]]
    # forked workers share the world this process loaded (Linux); spawned ones each open it once, not once a run
    assert 1 <= pool_result["worker_processes"] <= 2
    loads = 1 if fork_available() else pool_result["worker_processes"]
    assert pool_result["world_loads"] == loads


def test_spawned_pool_equals_forked_workers(world_file, pool_result, monkeypatch):
    """Where processes cannot be forked (macOS, Windows) a spawned pool runs the sweep: each of its workers
    opens the world once, and every run is the forked workers' run."""
    import sim.runs.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "fork_available", lambda: False)
    spawned = sweep_json(str(world_file), *GRID, "--workers", "2")
    assert runs_of(spawned) == runs_of(pool_result)
    assert 1 <= spawned["worker_processes"] <= 2
    assert spawned["world_loads"] == spawned["worker_processes"]
    if fork_available():
        assert pool_result["world_loads"] == 1


@pytest.mark.parametrize("kernel", ["batched", "auto"])
def test_each_kernel_gives_the_engines_runs(world_file, pool_result, kernel):
    """``--kernel batched`` computes every ic run in the compiled kernel, and ``auto`` judges by the sweep's
    total runs (100 or more: batched): either way every run is the engine's run of its seed, field for field."""
    engine = sweep_json(str(world_file), *GRID, "--workers", "2", "--kernel", "engine")
    assert runs_of(engine) == runs_of(pool_result)
    many = ("--grid", "p=0.05,0.2", "--runs", "50")  # 100 runs in all: auto batches them
    fast = sweep_json(str(world_file), *many, "--workers", "2", "--kernel", kernel)
    slow = sweep_json(str(world_file), *many, "--workers", "2", "--kernel", "engine")
    assert runs_of(fast) == runs_of(slow)
    assert [c["mean_reached"] for c in fast["results"]] == [c["mean_reached"] for c in slow["results"]]
    assert [c["kernel"] for c in fast["results"]] == ["batched", "batched"]
    assert [c["kernel"] for c in slow["results"]] == ["engine", "engine"]
    assert [c["kernel"] for c in pool_result["results"]] == ["engine", "engine"]  # 8 runs in all: auto, engine


def test_a_sweep_that_cannot_run_batched_is_refused_before_any_run(world_file, plugin_dir):
    code, out, err = cli(
        "sweep", str(world_file), "--plugins", str(plugin_dir), "--model", "fragile", *GRID, "--kernel", "batched"
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--kernel batched cannot run this ensemble" in err
    assert "only the built-in ic, lt, sir and seir run batched" in err and "p=0.05" in err


def test_json_shape(world_file, pool_result):
    r = pool_result
    assert {"results", "world", "model", "seeds", "runs", "backend", "workers", "seconds", "agents"} <= set(r)
    assert (r["model"], r["seeds"], r["runs"], r["backend"], r["agents"]) == ("ic", "random:10", 4, "process", 2500)
    assert r["grid"] == {"p": [0.05, 0.2]} and r["total_runs"] == 8 and r["failed"] == 0
    assert [c["grid"] for c in r["results"]] == [{"p": 0.05}, {"p": 0.2}]
    for c in r["results"]:
        assert c["params"] == {"p": c["grid"]["p"], "trust_weighted": False, "feed_weight": 1.0}
        assert c["runs"] == 4 and c["completed"] == 4
        lo, hi = c["ci95"]
        assert lo <= c["mean_reached"] <= hi
        plo, phi = c["peak_ci95"]
        assert plo <= c["mean_peak_tick"] <= phi
        assert len(c["reached"]) == len(c["peak_tick"]) == 4
        assert c["min_reached"] == min(c["reached"]) and c["max_reached"] == max(c["reached"])
        assert c["mean_fraction"] == pytest.approx(c["mean_reached"] / 2500)
        assert [x["seed"] for x in c["per_run"]] == [0, 1, 2, 3]


def test_text_table(world_file):
    code, out, err = cli(
        "sweep",
        str(world_file),
        "--grid",
        "p=0.05,0.2",
        "--grid",
        "trust_weighted=false,true",
        "--runs",
        "2",
        "--steps",
        "3",
        "--workers",
        "1",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["p", "trust_weighted", "runs"]
    assert set(lines[2]) == {"─"}  # the rule under the header
    assert [line.split()[:2] for line in lines[3:7]] == [
        ["0.05", "false"],
        ["0.05", "true"],
        ["0.2", "false"],
        ["0.2", "true"],
    ]
    assert "reach vs first" in lines[1]
    # the paired difference from the first combination and its interval, at the end of every later row
    assert lines[3].endswith("(first)") and all(
        re.search(r"[+-][\d,.]+ +-?[\d,.]+ \.\. -?[\d,.]+$", x) for x in lines[4:7]
    )
    assert "8 runs" in lines[7] and "world file not modified" in lines[7]


def test_failed_runs_are_counted_not_fatal(world_file, plugin_dir):
    """Failed runs are counted, left out of every statistic, shown with the plugin's file:line, and
    the sweep exits 3 (it finished, but runs failed)."""
    result = sweep_json(
        str(world_file),
        "--plugins",
        str(plugin_dir),
        "--model",
        "fragile",
        "--grid",
        "explode=false,true",
        "--param",
        "p=0.2",
        "--runs",
        "3",
        "--workers",
        "2",
        code=3,
    )
    ok, broken = result["results"]
    assert (ok["completed"], ok["failed"]) == (3, 0)
    assert (broken["completed"], broken["failed"]) == (0, 3)
    assert broken["mean_reached"] is None and broken["reached"] == [None] * 3
    assert "boom" in broken["errors"][0]
    assert (result["failed"], result["completed"], result["failed_arms"]) == (3, 3, 1)
    assert ok["mean_reached"] > 100
    first = broken["first_failure"]
    assert first["where"] == f"{plugin_dir / 'fragile.py'}:14"
    assert 'fragile.py", line 14, in step' in first["traceback"] and "sim/" not in first["traceback"]
    assert all(r["status"] == "failed" and r["where"] == first["where"] for r in broken["per_run"])
    assert broken["paired"]["pairs"] == 0 and broken["paired"]["reach_diff_mean"] is None


@pytest.fixture
def ray(ray_cluster):
    """The session's local Ray cluster (conftest.ray_cluster): ``--ray auto`` attaches to it."""
    return ray_cluster


def test_ray_equals_process_pool_and_ships_the_world_once(world_file, pool_result, ray, monkeypatch):
    """``--ray auto`` on a running cluster: the same runs as the pool, the world put in the object store
    once and loaded once per worker process, and the cluster, which the sweep did not start, left running."""
    puts = []
    real_put = ray.put

    def counting_put(value, *a, **kw):
        puts.append(type(value))
        return real_put(value, *a, **kw)

    monkeypatch.setattr(ray, "put", counting_put)
    before = digest(world_file)
    result = sweep_json(str(world_file), *GRID, "--ray", "auto", "--workers", "2")
    assert ray.is_initialized()  # not the sweep's to shut down
    assert digest(world_file) == before
    assert result["backend"] == "ray"
    assert runs_of(result) == runs_of(pool_result)
    assert [c["ci95"] for c in result["results"]] == [c["ci95"] for c in pool_result["results"]]
    assert len(puts) == 1
    assert 1 <= result["world_loads"] <= result["worker_processes"] <= 2
    assert result["world_loads"] < result["total_runs"]


def test_ray_auto_starts_a_fresh_local_cluster_and_shuts_it_down(world_file, pool_result, ray, monkeypatch):
    """With no cluster running, ``--ray auto`` starts a fresh local one of ``--workers`` CPUs (never one a
    user runs on this machine) and shuts it down afterwards. The sweep sees a Ray whose start and stop are
    recorded, and its runs go to the session's cluster, so the test does not pay a second start-up."""
    import sim.runs.transport as transport_module

    calls: list[tuple] = []

    class NoClusterYet:
        """The ray module, as the sweep sees it, before any cluster runs."""

        def __getattr__(self, name):
            return getattr(ray, name)

        def is_initialized(self) -> bool:
            return False

        def init(self, *args, **kwargs) -> None:
            calls.append(("init", kwargs.get("address"), kwargs.get("num_cpus")))

        def shutdown(self) -> None:
            calls.append(("shutdown",))

    monkeypatch.setattr(transport_module, "import_ray", NoClusterYet)
    result = sweep_json(str(world_file), *GRID, "--ray", "auto", "--workers", "2")
    assert calls == [("init", "local", 2), ("shutdown",)]
    assert runs_of(result) == runs_of(pool_result)
    assert ray.is_initialized()


@pytest.mark.slow
def test_ray_ships_plugins_and_counts_failures(world_file, plugin_dir, ray):
    args = (
        str(world_file),
        "--plugins",
        str(plugin_dir),
        "--model",
        "fragile",
        "--grid",
        "explode=false,true",
        "--param",
        "p=0.2",
        "--runs",
        "3",
        "--workers",
        "2",
    )
    on_ray = sweep_json(*args, "--ray", "auto", code=3)
    local = sweep_json(*args, code=3)
    assert runs_of(on_ray) == runs_of(local)  # where the plugin failed too: the user's folder, its source line
    assert [c["failed"] for c in on_ray["results"]] == [0, 3]


def command_line(process) -> str:
    import psutil

    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone already, or not ours to read
        return ""


def _terminal_sigint() -> None:
    """In the child, before exec: Ctrl-C as a terminal's foreground program has it. An ignored or blocked
    SIGINT of the test worker is inherited through exec (the sweep then ignored the test's Ctrl-C in the full
    suite, never alone)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.subprocess
def test_ctrl_c_leaves_no_worker_processes(world_file):
    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The engine's kernel and runs enough for minutes: the batched kernel finished 5,000 before the signal.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "sweep",
            str(world_file),
            "--grid",
            "p=0.2",
            "--runs",
            "200000",
            "--workers",
            "2",
            "--kernel",
            "engine",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_terminal_sigint,
    )
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120  # only bounds a hang: spawning is slow on a loaded machine
        workers: list = []
        while len(workers) < 2 and time.monotonic() < deadline:
            # forked workers (Linux) show the sweep's own command line; spawned ones (elsewhere) spawn_main
            workers = [p for p in parent.children(recursive=True) if re.search(r"spawn_main| sweep ", command_line(p))]
            time.sleep(0.05)
        assert len(workers) == 2, "the pool did not start"
        time.sleep(1.0)  # the workers have opened the world and are running
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # hung: show where (the CLI dumps its threads' stacks on SIGUSR1)
            proc.send_signal(signal.SIGUSR1)
            for child in parent.children(recursive=True):  # they hold the pipes too: end them first
                child.kill()
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate(timeout=60)
            raise AssertionError(f"the sweep did not exit after Ctrl-C; its threads:\n{err[-6000:]}") from None
    finally:
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
    assert proc.returncode == 130, err
    assert err == "agora: interrupted\n"
    for w in workers:
        assert not w.is_running() or w.status() == psutil.STATUS_ZOMBIE


def test_engine_is_headless_and_imports_ray_lazily():
    code = (
        "import sys, sim.runs.sweep, sim.cli.sweep; "
        "print(sorted(m for m in ('textual', 'ray', 'tui') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
