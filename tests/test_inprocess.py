"""The suite's ``agora`` helper runs the command in the test process (tests/inprocess.py): it must give what the
real program gives. The same commands, run both ways in the same folder with the same environment, print the
same stdout and stderr and end with the same exit code: help, reports, a run that writes the world, JSON, and
the user's mistakes (one sentence, exit 2), usage errors (argparse's exit 2) and bytes that are not UTF-8.

``AGORA_TEST_CLI=subprocess`` runs every command of the suite as a real process instead, to check the whole
suite both ways (docs/development.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, _command_env, agora, agora_process
from inprocess import run_cli

#: Commands whose output is the same at every run (``w.db`` is a world of 300 agents; none changes it).
READING = [
    ["--help"],
    ["--version"],
    ["new", "--help"],
    ["info", "w.db"],
    ["info", "w.db", "--json"],
    ["agent", "w.db", "3"],
    ["agent", "w.db", "3", "--json"],
    ["topics", "--json"],
    ["plugins", "list"],
    ["check", "w.db"],
    # mistakes: one sentence and exit 2, a usage error, a missing file, a file refused
    ["info", "missing.db"],
    ["no-such-command"],
    ["run", "w.db", "--steps", "many"],
    ["path", "w.db", "0", "-5"],
    ["new", "w.db", "--agents", "300"],
    ["run", "w.db", "--steps", "1", "--inject", b"caf\xe9 \xff"],
    ["rt", "w.db", "--serial-interval", "gamma:1.0000001,1e-300"],
    ["new", "x.db", "--agents", "٣٠٠"],
]

#: Timings and sizes that differ from run to run, whichever way the command runs.
_TIMING = re.compile(
    r"\d[\d,.]*\s*(ms|s|µs|KB|MB|GB)\b|\d+\.\d+ (seconds|ticks/s)|(?<=\"seconds\": )[\d.e-]+"
    r"|(?<=_seconds\": )[\d.e-]+|(?<=per_second\": )[\d.e-]+|(?<=_ms\": )[\d.e-]+"
)


def _subprocess(folder, words) -> subprocess.CompletedProcess:
    return agora_process(folder, *(os.fsdecode(w) if isinstance(w, bytes) else w for w in words), timeout=300,
                         env={"AGORA_TEST_CLI": "inprocess"})  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    made = tmp_path_factory.mktemp("both-ways")
    done = agora(made, "new", "w.db", "--agents", "300", "--seed", "4")
    assert done.returncode == 0, done.stderr
    return made


@pytest.mark.subprocess
@pytest.mark.parametrize("words", READING, ids=lambda w: " ".join(map(os.fsdecode, w))[:40])
def test_a_command_prints_the_same_in_process_and_as_a_process(folder, words):
    inside = run_cli(words, cwd=folder, env=_command_env({"AGORA_TEST_CLI": "inprocess"}))
    outside = _subprocess(folder, words)
    assert inside.returncode == outside.returncode
    # The same words; only a time the command measured may differ ("0.0 s" against "0.1 s").
    assert _TIMING.sub("T", inside.stdout) == _TIMING.sub("T", outside.stdout)
    assert _TIMING.sub("T", inside.stderr) == _TIMING.sub("T", outside.stderr)
    assert "Traceback" not in inside.stderr


@pytest.mark.subprocess
def test_a_run_that_writes_the_world_is_the_same_both_ways(folder, tmp_path):
    """The same seeded run on two copies of the world: the same report, and the same world afterwards."""
    for name in ("inside", "outside"):
        (tmp_path / name).mkdir()
        shutil.copyfile(folder / "w.db", tmp_path / name / "w.db")
    words = ["run", "w.db", "--inject", "news", "--seeds", "ids:1,2", "--steps", "4", "--seed", "3", "--json"]
    inside = run_cli(words, cwd=tmp_path / "inside", env=_command_env({"AGORA_TEST_CLI": "inprocess"}))
    outside = _subprocess(tmp_path / "outside", words)
    assert inside.returncode == outside.returncode == 0, (inside.stderr, outside.stderr)
    assert _TIMING.sub("T", inside.stdout) == _TIMING.sub("T", outside.stdout) and inside.stdout
    assert inside.stderr == outside.stderr
    worlds = []
    for side in ("inside", "outside"):
        info = run_cli(["info", "w.db", "--json"], cwd=tmp_path / side, env=_command_env(None))
        world = json.loads(info.stdout)
        del world["path"], world["size_bytes"]  # the folders differ; the pages its log holds may too
        worlds.append(world)
    assert worlds[0] == worlds[1] and worlds[0]["tick"] == 4 and worlds[0]["sessions"] == 1


def test_the_helper_restores_the_folder_the_environment_and_the_streams(tmp_path, capfd):
    """A command run in process leaves the test's working directory, environment and standard streams as they
    were, whatever it did (a refused command, a failing one)."""
    before = (os.getcwd(), dict(os.environ), sys.stdout, sys.stderr, sys.stdin)
    done = agora(tmp_path, "info", "missing.db", env={"AGORA_SOMETHING": "1"})
    assert done.returncode == 2 and done.stderr.startswith("agora: error: ")
    assert (os.getcwd(), dict(os.environ), sys.stdout, sys.stderr, sys.stdin) == before
    print("after")
    assert capfd.readouterr().out == "after\n"  # the test's own output is its own again


def test_an_exception_out_of_main_prints_a_traceback_and_exits_1_as_a_process_would(tmp_path, monkeypatch):
    import sim.cli.main

    def broken(argv=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(sim.cli.main, "main", broken)
    done = run_cli(["info"], cwd=tmp_path, env=_command_env(None))
    assert done.returncode == 1 and done.stderr.startswith("Traceback") and "RuntimeError: a bug" in done.stderr


def test_the_suite_names_the_tests_that_start_the_program_in_a_process():
    """Every test file that starts ``python -m sim`` itself marks the tests that do ``subprocess``, so the choice
    is visible (docs/development.md: which tests must stay subprocesses, and why)."""
    unmarked = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if '"-m", "sim"' in text and "mark.subprocess" not in text:
            unmarked.append(path.name)
    assert unmarked == []


def test_copy_world_over_a_world_this_process_still_holds_gives_a_readable_copy(tmp_path):
    """``copy_world`` onto a world a connection of this process still holds, with rows in its write-ahead log:
    the copy reads back as the source. (Rewriting the file in place and removing its log under that connection
    made SQLite answer "disk I/O error" at the next open: the crash loop failed so at CI.)"""
    import sqlite3

    from conftest import copy_world

    source, target = str(tmp_path / "a.db"), str(tmp_path / "w.db")
    con = sqlite3.connect(source)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    con.commit()
    con.close()
    copy_world(source, target)
    held = sqlite3.connect(target)
    held.execute("INSERT INTO t VALUES (-1)")
    held.commit()  # the row is in target's log; the connection stays open
    try:
        copy_world(source, target)
        again = sqlite3.connect(target)
        assert again.execute("SELECT COUNT(*) FROM t").fetchone() == (1000,)
        again.close()
    finally:
        held.close()
