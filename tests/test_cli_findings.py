"""What a probe and a new user found in the command line (issue 57), on real ``agora`` processes and world files:
help texts that printed "90%%", wrong nouns in errors (a posterior called a series file, an encrypted world cut
short called "not an SQLite file"), a ``--key-file`` a clear world silently ignored, ``agora run --steps`` calling
a session that goes on ``completed``, and a sweep that silently continued the world's running sessions."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from conftest import agora, digest, one_sentence

from sim.cli.main import build_parser, command_groups

STAR = "0 1\n1 2\n1 3\n1 4\n1 5\n1 6\n"
KEY = "correct horse battery staple"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """The star's world (hub 1, leaves 0 and 2..6) and its edge list, alone in a folder."""
    folder = tmp_path_factory.mktemp("star")
    (folder / "star.txt").write_text(STAR)
    done = agora(folder, "new", "star.db", "--edges", "star.txt", "--seed", "1")
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def folder(made, tmp_path) -> Path:
    copy = tmp_path / "w"
    shutil.copytree(made, copy)
    key = copy / "world.key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    return copy


# -- help texts ------------------------------------------------------------------------------------------------


def test_no_commands_help_prints_a_doubled_percent_sign():
    """argparse %-formats help strings (where 90%% prints 90%) but not descriptions and epilogs (where it
    prints 90%%): every command's and subcommand's --help, as ``format_help`` writes it."""
    todo = [build_parser(command_groups())]
    seen = []
    while todo:
        parser = todo.pop()
        seen.append(parser.prog)
        assert "%%" not in parser.format_help(), parser.prog
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += list(action.choices.values())
    assert {"agora fit", "agora forecast", "agora bench forecast", "agora plugins check"} <= set(seen)


def test_fit_and_forecast_help_say_90_percent(tmp_path):
    for command, words in (("fit", "90% credible interval"), ("forecast", "90% interval")):
        done = agora(tmp_path, command, "--help")
        assert done.returncode == 0 and "%%" not in done.stdout
        assert words in " ".join(done.stdout.split()), done.stdout


# -- wrong nouns -----------------------------------------------------------------------------------------------


def test_fit_calls_its_output_a_posterior_file(folder):
    (folder / "obs.csv").write_text("tick,I\n0,1\n1,3\n")
    line = one_sentence(
        agora(folder, "fit", "star.db", "--observed", "obs.csv", "--param", "p=0.1..0.9", "-o", "post.db", "--force")
    )
    assert "posterior file 'post.db'" in line and "series file" not in line, line
    assert not (folder / "post.db").exists()


def test_an_encrypted_world_cut_short_says_so(folder):
    pytest.importorskip("sqlcipher3")
    done = agora(folder, "new", "enc.db", "--agents", "300", "--encrypt", "--key-file", "world.key")
    assert done.returncode == 0, done.stderr
    data = (folder / "enc.db").read_bytes()
    (folder / "cut.db").write_bytes(data[:20_000])  # a copy that stopped early: not a whole number of pages
    for args in (["info", "cut.db", "--key-file", "world.key"], ["info", "cut.db"], ["run", "cut.db", "--steps", "1"]):
        line = one_sentence(agora(folder, *args))
        assert "encrypted world cut short" in line and "not an SQLite file" not in line, line
    done = agora(folder, "check", "cut.db", "--key-file", "world.key")
    assert done.returncode == 1 and "encrypted world cut short" in done.stdout, done.stdout
    # A file that is no world at all is still called so.
    line = one_sentence(agora(folder, "info", "star.txt"))
    assert "not an Agora world (not an SQLite file)" in line


# -- a key file a clear world would ignore ---------------------------------------------------------------------


def test_a_clear_world_refuses_a_key_file_it_would_not_use(folder):
    before = digest(folder / "star.db")
    for args, words in (
        (["info", "star.db"], "agora encrypt"),
        (["run", "star.db", "--steps", "1"], "agora encrypt"),
        (["check", "star.db"], "agora encrypt"),
        (["save", "star.db", "star.snap"], "--encrypt"),
        (["new", "other.db", "--agents", "10"], "--encrypt"),
    ):
        line = one_sentence(agora(folder, *args, "--key-file", "world.key"))
        assert "--key-file" in line and words in line and KEY not in line, line
    assert digest(folder / "star.db") == before
    assert not (folder / "star.snap").exists() and not (folder / "other.db").exists()
    assert agora(folder, "save", "star.db", "star.snap").returncode == 0
    line = one_sentence(agora(folder, "load", "star.snap", "copy.db", "--key-file", "world.key"))
    assert "snapshot 'star.snap' is not encrypted" in line and not (folder / "copy.db").exists()
    # The key in the environment is for whichever worlds are encrypted: a clear one opens as before.
    done = agora(folder, "info", "star.db", env={"AGORA_WORLD_KEY": KEY})
    assert done.returncode == 0, done.stderr
    if importlib.util.find_spec("sqlcipher3") is not None:  # a key that is used is accepted
        k = ["--key-file", "world.key"]
        assert agora(folder, "save", "star.db", "sealed.snap", "--encrypt", *k).returncode == 0
        assert agora(folder, "load", "sealed.snap", "enc.db", *k).returncode == 0
        done = agora(folder, "info", "enc.db", "--json", *k)
        assert done.returncode == 0 and json.loads(done.stdout)["encrypted"] is True, done.stderr


# -- a run that stops a session early --------------------------------------------------------------------------


def test_a_run_that_stops_a_session_early_says_running(folder):
    """On the star with p = 1 from leaf 0: tick 1 seeds, tick 2 reaches the hub, tick 3 every leaf."""
    args = ["run", "star.db", "--inject", "x", "--model", "ic", "--param", "p=1", "--seeds", "ids:0"]
    done = agora(folder, *args, "--steps", "2", "--json")
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(done.stdout)["runs"]
    assert (run["status"], run["session_status"], run["ended"], run["reached"]) == ("running", "running", False, 2)
    forecast = agora(folder, "forecast", "star.db", "--runs", "2", "--until-done", "--json")
    assert forecast.returncode == 0, forecast.stderr  # the next command finds the session running
    done = agora(folder, *args, "--steps", "2")
    assert done.returncode == 0, done.stderr
    row = next(ln for ln in done.stdout.splitlines() if ln.strip().startswith("0 "))
    assert "running" in row.split() and "completed" not in row, done.stdout
    assert "session 2 is still running" in done.stdout
    # A run whose model ends within its steps is completed.
    done = agora(
        folder,
        "run",
        "star.db",
        "--inject",
        "y",
        "--model",
        "ic",
        "--param",
        "p=1",
        "--seeds",
        "ids:0",
        "--steps",
        "50",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(done.stdout)["runs"]
    assert (run["status"], run["session_status"], run["ended"]) == ("completed", "completed", True)


# -- a sweep of a world with a running session -----------------------------------------------------------------


@pytest.mark.slow
def test_a_sweep_leaves_the_worlds_running_sessions_out_and_says_so(folder):
    """An earlier ``agora run --steps`` left a slow SIR session running: by default every run of the sweep leaves
    it out (its runs end with the injected cascade), and says so; ``--keep-running`` continues it in every run
    (each run then lasts until the stale session ends)."""
    stale = ["run", "star.db", "--inject", "old", "--model", "sir", "--param", "beta=0.5", "--param", "gamma=0.01"]
    done = agora(folder, *stale, "--seeds", "ids:0", "--steps", "2", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["runs"][0]["status"] == "running", done.stderr
    before = digest(folder / "star.db")
    sweep = ["sweep", "star.db", "--grid", "p=0.5,1", "--runs", "2", "--seeds", "ids:3", "--workers", "1", "--json"]
    out = {}
    for keep in (False, True):
        done = agora(folder, *sweep, *(["--keep-running"] if keep else []))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["running_sessions"] == [1] and report["kept_running"] is keep
        note = next(ln for ln in done.stderr.splitlines() if ln.startswith("agora: note:"))
        assert "running session 1" in note and ("--keep-running" in note), note
        out[keep] = [run["ticks"] for arm in report["results"] for run in arm["per_run"]]
    assert max(out[False]) <= 5, out  # the injected cascade alone: a few ticks on the star
    assert min(out[True]) > 20, out  # every run waited for the stale SIR session (gamma 0.01) to end
    assert digest(folder / "star.db") == before  # a sweep never writes its world
    # A world with no running session says nothing of it.
    fresh = folder / "fresh"
    fresh.mkdir()
    (fresh / "star.txt").write_text(STAR)
    assert agora(fresh, "new", "star.db", "--edges", "star.txt", "--seed", "1").returncode == 0
    done = agora(fresh, *sweep)
    assert done.returncode == 0 and "running session" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["running_sessions"] == []
