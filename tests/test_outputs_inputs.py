"""An output never replaces an input (issue 57): every output path of every command (``-o``, ``--plot``,
``--series``, ``--cascades``, ``--ccdf``, a snapshot, an export, ``--port-file``, a new world...) that is the world
the command reads, one of the world's side files (``-wal``, ``-shm``, ``-journal``, lock, token), the key file or
another input (an observation, a posterior, a seed file, an edge list, a snapshot, a series file) is refused in one
sentence, ``--force`` or not, with exit 2 and every file left as it was, byte for byte.

The outputs are read from the parser itself (the arguments whose type says they are written), so a new output
flag is walked without touching this file, and a new file flag that declares neither role fails the first test.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import pytest
from conftest import agora, digest, one_sentence

from sim.cli.args import FileArgument
from sim.cli.main import build_parser, command_groups
from sim.cli.paths import file_kind, label

#: A star: hub 1 with leaves 0, 2..6 (undirected).
STAR = "0 1\n1 2\n1 3\n1 4\n1 5\n1 6\n"
#: What every refusal says.
NEVER = "an output never replaces an input"

#: Each command that writes a file: its shortest command line (``{OUT}`` where a positional output goes; an
#: optional output is appended) and the input file its outputs are pointed at (the world where it reads one).
COMMANDS: dict[str, tuple[list[str], str]] = {
    "new": (["new", "{OUT}", "--edges", "star.txt"], "star.txt"),
    "load": (["load", "star.snap", "{OUT}"], "star.snap"),
    "save": (["save", "star.db", "{OUT}"], "star.db"),
    "export": (["export", "star.db", "{OUT}"], "star.db"),
    "run": (["run", "star.db", "--inject", "x", "--seeds", "ids:0", "--steps", "2", "--runs", "2"], "star.db"),
    "sweep": (["sweep", "star.db", "--grid", "p=0.1,0.2", "--runs", "2", "--seeds", "ids:0"], "star.db"),
    "fit": (["fit", "star.db", "--observed", "obs.csv", "--param", "p=0.1..0.9", "--budget", "100"], "star.db"),
    "forecast": (["forecast", "star.db", "--runs", "2", "--ticks", "2"], "star.db"),
    "plot": (["plot", "series.csv"], "series.csv"),
    "rt": (["rt", "series.csv", "--serial-interval", "gamma:3,1.5"], "series.csv"),
    "backtest": (
        ["backtest", "star.db", "--observed", "obs.csv", "--param", "p=0.1..0.9", "--budget", "100"],
        "star.db",
    ),
    "cascades": (["cascades", "star.db"], "star.db"),
    "seeds": (["seeds", "star.db", "--k", "1", "--method", "degree", "--runs", "2"], "star.db"),
    "serve": (["serve", "star.db", "--port", "0"], "star.db"),
    "llm": (["llm", "distill", "star.db"], "star.db"),
}

#: Metavars of arguments that name files: each must say whether the command reads or writes it.
FILE_METAVARS = {"FILE", "FIG", "OUT", "SNAPSHOT", "WORLD"}


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command's parser, by its words after ``agora`` (``plugins check``)."""
    found, todo = [], [("", build_parser(command_groups()))]
    while todo:
        words, p = todo.pop()
        found.append((words, p))
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(f"{words} {name}".strip(), child) for name, child in action.choices.items()]
    return found


def _outputs() -> list[tuple[str, argparse.Action]]:
    return [
        (words, a)
        for words, p in _parsers()
        for a in p._actions
        if isinstance(a.type, FileArgument) and a.type.role == "output"
    ]


OUTPUTS = _outputs()


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A folder holding the star's world and every input the commands read."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "star.txt").write_text(STAR)
    done = agora(folder, "new", "star.db", "--edges", "star.txt", "--seed", "1")
    assert done.returncode == 0, done.stderr
    done = agora(folder, "save", "star.db", "star.snap")
    assert done.returncode == 0, done.stderr
    for name in os.listdir(folder):  # only the world, the edge list and the snapshot: no SQLite side files
        assert name in {"star.db", "star.txt", "star.snap"}, name
    (folder / "obs.csv").write_text("tick,I\n0,1\n1,3\n2,5\n")
    (folder / "series.csv").write_text("run,tick,measure,value\n0,0,reached,1\n0,1,reached,3\n")
    (folder / "post.csv").write_text("p,weight\n0.2,0.5\n0.3,0.5\n")
    (folder / "seeds.txt").write_text("0\n")
    (folder / "tokens.txt").write_text("a-token-of-at-least-thirty-two-characters\n")
    key = folder / "world.key"
    key.write_text("correct horse battery staple\n")
    key.chmod(0o600)
    return folder


@pytest.fixture
def folder(made, tmp_path) -> Path:
    """A fresh copy of the inputs' folder."""
    copy = tmp_path / "w"
    shutil.copytree(made, copy)
    return copy


def _state(folder: Path) -> dict[str, str]:
    """Every file of the folder and its bytes' SHA-256 (links as where they point)."""
    return {p.name: (f"-> {os.readlink(p)}" if p.is_symlink() else digest(p)) for p in sorted(folder.iterdir())}


def _refused(folder: Path, *args: str) -> str:
    """Run ``agora ARGS`` in ``folder``: exit 2, one sentence saying an output never replaces an input, and
    every file of the folder as it was (no file made, none changed, the world's included)."""
    before = _state(folder)
    line = one_sentence(agora(folder, *args, timeout=120))
    assert NEVER in line or "name the same file" in line, line
    assert _state(folder) == before
    return line


def test_every_file_argument_says_whether_it_is_read_or_written():
    """A new flag naming a file must declare its role (``type=reads(...)`` or ``writes()``), so that the check
    and the walk below cover it; a command group's untyped ``world`` is the world it reads."""
    undeclared = [
        f"agora {words} {label(a)}"
        for words, p in _parsers()
        for a in p._actions
        if a.metavar in FILE_METAVARS and file_kind(a) is None and "--key-file" not in a.option_strings
    ]
    assert undeclared == []
    keys = [a for _, p in _parsers() for a in p._actions if "--key-file" in a.option_strings]
    assert keys and all(file_kind(a) is not None and file_kind(a).role == "input" for a in keys)
    assert {words.split()[0] for words, _ in OUTPUTS} == set(COMMANDS), "give a new command's line in COMMANDS"
    assert len(OUTPUTS) >= 19


@pytest.mark.parametrize(("words", "action"), OUTPUTS, ids=[f"{w} {label(a)}" for w, a in OUTPUTS])
def test_every_output_of_every_command_pointed_at_its_input_is_refused(folder, words, action):
    """Each output flag, pointed at the world its command reads (at the edge list for ``new``, the snapshot for
    ``load``, the series file for ``plot``), with ``--force`` where the command has it."""
    template, target = COMMANDS[words.split()[0]]
    if action.option_strings:
        args = [*template, action.option_strings[0], target]
    else:
        args = [target if w == "{OUT}" else w for w in template]
    assert target in args
    parser = dict(_parsers())[words]
    if any("--force" in a.option_strings for a in parser._actions):
        args.append("--force")
    line = _refused(folder, *args)
    assert repr(target) in line and label(action) in line


@pytest.mark.parametrize(
    "target",
    [
        "star.db",
        "./star.db",
        "{abs}/star.db",
        "link-to-world.csv",  # a symbolic link to the world
        "hard-link.csv",  # a hard link to the world
        "star.db-wal",
        "star.db-shm",
        "star.db-journal",
        "star.db.lock",
        "star.db.token",
        "link-to-wal.csv",  # a dangling link to the write-ahead log, not made yet
        "world.key",
        "obs.csv",
    ],
)
def test_fit_output_over_the_world_its_files_or_its_inputs_is_refused(folder, target):
    """``agora fit W --observed X -o W --force`` replaced the world with a CSV (exit 0): every spelling and every
    file of the world, the key file and the observation file are refused."""
    (folder / "link-to-world.csv").symlink_to("star.db")
    os.link(folder / "star.db", folder / "hard-link.csv")
    (folder / "link-to-wal.csv").symlink_to(folder / "star.db-wal")
    target = target.format(abs=folder)
    base = [
        "fit",
        "star.db",
        "--observed",
        "obs.csv",
        "--param",
        "p=0.1..0.9",
        "--budget",
        "100",
        "--key-file",
        "world.key",
    ]
    line = _refused(folder, *base, "-o", target, "--force")
    if target.endswith(("-wal", "-shm", "-journal", ".lock", ".token")):
        assert "of world 'star.db'" in line
    _refused(folder, *base, "--plot", target, "--force")


def test_a_figure_over_the_world_is_refused(folder):
    """``fit --plot W --force`` and ``forecast --plot W --force`` replaced the world with a PNG."""
    (folder / "fig.png").symlink_to("star.db")
    for args in (
        ["fit", "star.db", "--observed", "obs.csv", "--param", "p=0.1..0.9", "--budget", "100"],
        ["forecast", "star.db", "--runs", "2", "--ticks", "2", "--posterior", "post.csv"],
    ):
        for target in ("star.db", "fig.png"):
            line = _refused(folder, *args, "--plot", target, "--force")
            assert "the world 'star.db'" in line
    line = _refused(
        folder, "forecast", "star.db", "--runs", "2", "--ticks", "2", "--posterior", "post.csv", "--plot", "post.csv"
    )
    assert "posterior file 'post.csv' (--posterior)" in line


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "star.db", "--observed", "obs.csv", "--seeds", "file:seeds.txt", "-o", "seeds.txt"],
        [
            "run",
            "star.db",
            "--inject",
            "x",
            "--seeds",
            "ids:0",
            "--steps",
            "2",
            "--intervene",
            "0:block:file:seeds.txt",
            "--series",
            "seeds.txt",
        ],
        ["sweep", "star.db", "--grid", "seeds=file:seeds.txt,ids:0", "--runs", "1", "--series", "seeds.txt"],
        [
            "forecast",
            "star.db",
            "--runs",
            "2",
            "--ticks",
            "2",
            "--arm",
            "b=block:file:seeds.txt",
            "--plot",
            "seeds.txt",
        ],
        ["serve", "star.db", "--token-file", "tokens.txt", "--port-file", "tokens.txt"],
    ],
    ids=["fit-seeds", "run-intervene", "sweep-grid", "forecast-arm", "serve-token"],
)
def test_seed_files_and_token_files_are_inputs_too(folder, args):
    line = _refused(folder, *args, *(["--force"] if args[0] != "serve" else []))
    assert "seed file 'seeds.txt'" in line or "token file 'tokens.txt' (--token-file)" in line


def test_two_outputs_that_are_one_file_are_refused_and_an_output_that_is_no_input_is_written(folder):
    """Two outputs that are one file through a hard link are refused; the check refuses nothing else: an existing
    file of the user's that no command reads is replaced with --force, as before."""
    (folder / "a.csv").write_text("x\n")
    os.link(folder / "a.csv", folder / "a.png")
    fit = ["fit", "star.db", "--observed", "obs.csv", "--param", "p=0.1..0.9", "--budget", "100"]
    line = _refused(folder, *fit, "-o", "a.csv", "--plot", "a.png", "--force")
    assert "name the same file" in line
    (folder / "old.txt").write_text("previous\n")
    done = agora(
        folder, "seeds", "star.db", "--k", "1", "--method", "degree", "--runs", "2", "-o", "old.txt", "--force"
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "old.txt").read_text() == "1\n"
