from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
#: Where the real networks are when ``$AGORA_DATA`` is not set: ``../shared/data`` beside the project.
FALLBACK_DATA = ROOT.parent / "shared" / "data"


def data_dir() -> Path:
    """The folder of the real networks (facebook_combined.txt, email-Eu-core*.txt, musae_facebook_edges.csv):
    ``$AGORA_DATA`` when set, else ``../shared/data`` relative to the project root."""
    env = os.environ.get("AGORA_DATA")
    return Path(env).expanduser() if env else FALLBACK_DATA


def data_file(name: str) -> Path:
    """The real dataset ``name`` (see :func:`data_dir`), or skip the test saying where it was looked for.

    The one lookup of every test that reads the real networks (``from conftest import data_file``)."""
    folder = data_dir()
    path = folder / name
    if not path.is_file():
        where = f"AGORA_DATA={os.environ['AGORA_DATA']}" if os.environ.get("AGORA_DATA") else "AGORA_DATA is not set"
        pytest.skip(
            f"real dataset {name} not found in {folder} ({where}): set AGORA_DATA to the folder holding it, "
            f"or put it in the fallback folder ../shared/data beside the project ({FALLBACK_DATA})"
        )
    return path


def one_sentence(out: subprocess.CompletedProcess) -> str:
    """The one line of a refused command (exit code 2, ``agora: error: ...``, no traceback)."""
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: ") and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def _command_env(env: dict | None) -> dict[str, str]:
    """The environment a command of the suite runs with: the test's, without progress bars, ``env`` added."""
    full_env = {k: v for k, v in os.environ.items() if k != "AGORA_PROGRESS"}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    full_env.update(env or {})
    return full_env


def agora(
    cwd, *args: str, env: dict | None = None, timeout: float = 600, stdin: bytes | None = None
) -> subprocess.CompletedProcess:
    """``agora ARGS`` in ``cwd`` as a user would run it (no progress bars; ``env`` added to the environment),
    its output captured as text: run in this process (:mod:`inprocess`), which gives what a subprocess gives
    (tests/test_inprocess.py) without a new interpreter's start-up. Where the process itself is under test
    (signals, Ctrl-C, exit at start-up, crashes, memory), use :func:`agora_process` and mark the test
    ``subprocess``."""
    return run_cli(args, cwd=cwd, env=_command_env(env), timeout=timeout, stdin=stdin)


def agora_process(
    cwd, *args: str, env: dict | None = None, timeout: float = 600, stdin: bytes | None = None
) -> subprocess.CompletedProcess:
    """``python -m sim ARGS`` in ``cwd`` in a real subprocess, as :func:`agora` otherwise: for the tests of
    the process itself (mark them ``subprocess``)."""
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_command_env(env),
        check=False,
        input=None if stdin is None else stdin.decode(),
    )


async def until(pilot, condition, seconds: float = 120.0) -> bool:
    """Wait for ``condition()`` under a Textual ``pilot`` (something a worker, a tick or the UI's refresh timer
    makes true), polling; the deadline only bounds a hang, so a slow machine waits longer instead of failing."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.05)
    return True


def copy_world(source, target) -> None:
    """Copy the world file ``source`` to ``target`` with its write-ahead log (``WORLD-wal``), as SQLite reads it:
    a process that ran several commands on a world may leave committed pages in the log rather than the file.

    ``target`` and its log, shared-memory index and journal are removed first, so the copy is a new file: a
    connection this process still holds to the old one (a world loaded earlier in the test) keeps the old
    file, and SQLite never sees a file rewritten under it with its log gone ("disk I/O error")."""
    for side in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(f"{target}{side}"):
            os.remove(f"{target}{side}")
    shutil.copyfile(source, target)
    if os.path.exists(f"{source}-wal"):
        shutil.copyfile(f"{source}-wal", f"{target}-wal")


def digest(path) -> str:
    """The SHA-256 of a file's bytes (to show a command left it unchanged)."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def keep_notifications(monkeypatch):
    """Keep every notification a Textual app shows, for :func:`notified`, when the app calls ``notify``.
    ``App.notify`` only posts a message, which the app handles later (a test that reads right after a state
    change the same handler made would race it), and notifications expire after a few seconds (5 by
    default) and then leave ``app._notifications``: on a loaded machine that can happen before a test looks
    at them."""
    from textual.app import App

    notify = App.notify

    def notify_and_keep(self, message, *args, **kwargs):
        self.__dict__.setdefault("_kept_notifications", []).append(message)
        return notify(self, message, *args, **kwargs)

    notify_and_keep.keeps = True
    monkeypatch.setattr(App, "notify", notify_and_keep)


def notified(app) -> list[str]:
    """The messages of every notification ``app`` has shown so far, in order, expired ones included (the
    test must use the ``keep_notifications`` fixture)."""
    from textual.app import App

    assert getattr(App.notify, "keeps", False), "use the keep_notifications fixture"
    return [str(m) for m in app.__dict__.get("_kept_notifications", [])]


@pytest.fixture
def small_world():
    from sim.store.create import synthetic_world

    return synthetic_world("small", 3000, avg_degree=8, seed=7)


# -- standard worlds, built once per test process ------------------------------------------------------------


def _shared(path: Path) -> Iterator[Path]:
    """Hand out the world file ``path`` to every test of the process, and check at the end that none changed it
    (a test that writes takes its own copy: :func:`copy_world`)."""
    before = digest(path)
    yield path
    wal = Path(f"{path}-wal")
    assert digest(path) == before and (not wal.exists() or wal.stat().st_size == 0), (
        f"a test changed the shared world {path}: take a copy (copy_world) before writing to it"
    )


@pytest.fixture(scope="session")
def ego_facebook_file(tmp_path_factory) -> Iterator[Path]:
    """ego-Facebook (SNAP, 4,039 agents, 88,234 friendships) imported once per test process, to read only."""
    import sim

    path = tmp_path_factory.mktemp("shared-facebook") / "fb.db"
    sim.import_edges(str(path), str(data_file("facebook_combined.txt")))
    yield from _shared(path)


@pytest.fixture
def ego_facebook(ego_facebook_file, tmp_path) -> Path:
    """This test's own copy of :func:`ego_facebook_file`, ``fb.db`` in its ``tmp_path``."""
    target = tmp_path / "fb.db"
    copy_world(ego_facebook_file, target)
    return target


#: The Hagelloch village's layers: households, and school classes (the preschool children in none).
HAGELLOCH_LAYERS = ("--group", "HN:household", "--group", "CL:class", "--skip", "preschool")


@pytest.fixture(scope="session")
def hagelloch_file(tmp_path_factory) -> Iterator[Path]:
    """The Hagelloch 1861 village (188 children; households and classes) built once per test process, to read
    only: ``agora new h.db --people hagelloch.csv --id PN`` with :data:`HAGELLOCH_LAYERS`."""
    folder = tmp_path_factory.mktemp("shared-hagelloch")
    done = agora(folder, "new", "h.db", "--people", str(data_file("hagelloch.csv")), "--id", "PN", *HAGELLOCH_LAYERS)
    assert done.returncode == 0, done.stderr
    yield from _shared(folder / "h.db")


@pytest.fixture
def village(hagelloch_file, tmp_path) -> str:
    """The Hagelloch village (``HAGELLOCH_LAYERS``) as a world file of the test's own, to write to: a copy of the one
    built once per process (a module may define its own ``village``)."""
    target = tmp_path / "v.db"
    copy_world(hagelloch_file, target)
    return str(target)


@pytest.fixture(autouse=True)
def _saves_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("AGORA_SAVES", str(tmp_path / "saves"))
    # The user's settings (trusted plugin folders, the UI's theme and keys) are the test's own, never the machine's.
    monkeypatch.setenv("AGORA_CONFIG_HOME", str(tmp_path / "config"))
    # Plain-text tables are as wide as the terminal: the tests read them at one width, whatever terminal (or
    # test worker without one) runs them.
    monkeypatch.setenv("COLUMNS", "160")
    # The LLM is offline in tests unless a test points it at its own local server.
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORA_LLM_MODEL", "AGORA_LLM_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield


def _starts_the_program(args) -> bool:
    """Whether a command line starts Agora's program: ``python -m sim``, the ``agora`` script, or a shell or tmux
    command that does."""
    items = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
    tokens = " ".join(os.fsdecode(a) if isinstance(a, bytes | os.PathLike) else str(a) for a in items).split()
    pairs = zip(tokens, tokens[1:])
    return any(a == "-m" and b == "sim" for a, b in pairs) or any(os.path.basename(t) == "agora" for t in tokens)


@pytest.fixture(autouse=True)
def _the_program_in_a_process_is_marked(request, monkeypatch):
    """A test that starts the program in a new process (``python -m sim``, the ``agora`` script) is marked
    ``subprocess``: the choice is visible, and everything else runs the CLI in process (:func:`agora`). A test
    that starts one unmarked fails, naming the command."""
    if request.node.get_closest_marker("subprocess") is not None or os.environ.get("AGORA_TEST_CLI") == "subprocess":
        yield
        return
    started: list[str] = []
    real = subprocess.Popen.__init__

    def watched(self, args, *rest, **kwargs):
        if _starts_the_program(args):
            started.append(str(args)[:200])
        real(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", watched)
    yield
    if started:
        pytest.fail(
            f"{request.node.nodeid} starts the program in a process ({started[0]}) but is not marked subprocess: "
            "run it in process with conftest.agora, or mark it @pytest.mark.subprocess where the process itself "
            "is under test (docs/development.md)",
            pytrace=False,
        )


#: How long the shared Ray cluster may take to start. Ray's own limits are 30 s (the GCS port, the raylet
#: registering) and 60 s (a worker process registering): a 2-core machine at load 10 needs more.
RAY_START_BUDGET_S = 300.0


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster of 2 CPUs for the Ray tests of a test file (``ray``, initialised), started at
    its first and shut down after its last; ``--ray auto`` attaches to it instead of starting its own. Not
    one a session: an idle cluster costs about 2.3 s of CPU a minute (its raylet and idle workers), and one
    started by an early file ran until the suite's end (three files use it: about 5 s of CPU each to start).

    The start-up gets :data:`RAY_START_BUDGET_S`: Ray's waits it reads from the environment or its system
    config are raised to fit it, and a start that still times out (the raylet's 30 s wait is fixed in
    Ray's code) is tried again while the budget lasts, and fails the test past it. Skips, saying why, when Ray
    is not installed or cannot start a cluster on this machine at all (an error other than a time-out)."""
    ray = pytest.importorskip("ray", reason="the Ray backend needs the optional extra: pip install 'agora-sim[ray]'")
    import logging
    import time

    wait = str(int(RAY_START_BUDGET_S))
    deadline = time.monotonic() + RAY_START_BUDGET_S
    failures: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        # Read by ray.init while it waits for the GCS to write its port and then to answer (default 30 s
        # and 20 tries of about a second).
        mp.setenv("RAY_gcs_server_port_wait_time_s", wait)
        while True:
            started = time.monotonic()
            try:
                ray.init(
                    address="local",  # a fresh cluster: never one a user runs on this machine
                    num_cpus=2,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                    # A worker process importing numpy and Agora at load 10 can take longer than the 60 s it gets to
                    # register (Ray then kills it and fails the task).
                    _system_config={"worker_register_timeout_seconds": int(RAY_START_BUDGET_S)},
                )
                break
            except Exception as exc:  # Ray raises bare Exception for a start that timed out
                ray.shutdown()
                failures.append(f"{type(exc).__name__}: {exc} (after {time.monotonic() - started:.0f} s)")
                if "timed out" not in str(exc).lower():
                    pytest.skip(f"Ray cannot start a local cluster on this machine: {failures[-1]}")
                if time.monotonic() >= deadline:  # it starts, but not within the budget: a failure, not a skip
                    pytest.fail(f"Ray did not start within {RAY_START_BUDGET_S:.0f} s: " + "; ".join(failures))
    try:
        yield ray
    finally:
        ray.shutdown()


def asked_for_slow(config: pytest.Config) -> bool:
    """Whether the run asked for the slow tests by name (``pytest -m slow``, ``make test-slow``): the tests
    that take minutes run only then, not in ``make test``."""
    expr = str(config.getoption("markexpr") or "")
    return "slow" in expr and "not slow" not in expr


def local_llm_missing() -> str | None:
    """Why the real language model cannot run here (None when it can): the local-llm extra or its model is
    not installed. Found without importing llama.cpp."""
    from sim.llm import local

    missing = local.missing_modules()
    if missing:
        return f"the local-llm extra is not installed (missing: {', '.join(missing)}): {local.INSTALL}"
    try:
        local.check_model(local.default_model())
    except Exception as exc:
        return f"the local model is not usable: {exc}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``local_llm`` start a real language model: skipped, with the reason, where the local-llm
    extra is not installed (``make test`` installs it where ../shared/wheels holds its wheel)."""
    marked = [item for item in items if item.get_closest_marker("local_llm") is not None]
    why = local_llm_missing() if marked else None
    if why is not None:
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=why))


# -- CPU time per test ------------------------------------------------------------------------------------------
#: How many tests the end of a run lists by CPU time (beside pytest's --durations, which is wall time).
CPU_LISTED = 25


def _cpu_now() -> float:
    """This process's CPU time (every thread) and its waited-for children's, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each test's CPU time (its setup, call and teardown; the programs it started and waited for included), kept
    in its teardown report as ``cpu_s`` for the list at the end of the run."""
    if call.when == "setup":
        item.stash[_CPU_START] = _cpu_now()
    outcome = yield
    if call.when == "teardown" and _CPU_START in item.stash:
        outcome.get_result().user_properties.append(("cpu_s", round(_cpu_now() - item.stash[_CPU_START], 2)))


_CPU_START = pytest.StashKey[float]()
_CPU_SEEN: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    if report.when == "teardown":
        for key, value in report.user_properties:
            if key == "cpu_s":
                _CPU_SEEN[report.nodeid] = float(value)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The tests that took the most CPU time, after pytest's slowest by wall time: CI holds the suite to a CPU
    budget (.ci/budget.py), and this list says where it goes."""
    if not _CPU_SEEN or hasattr(config, "workerinput"):
        return
    total = sum(_CPU_SEEN.values())
    terminalreporter.write_sep("=", f"most CPU time: {CPU_LISTED} tests of {len(_CPU_SEEN)} ({total:,.0f} s in all)")
    for nodeid, cpu in sorted(_CPU_SEEN.items(), key=lambda kv: -kv[1])[:CPU_LISTED]:
        terminalreporter.write_line(f"{cpu:8.1f}s cpu  {nodeid}")
    where = os.environ.get("AGORA_TEST_CPU_JSON")
    if where:
        Path(where).write_text(json.dumps(_CPU_SEEN, indent=0, sort_keys=True))
