"""The real ``agora`` command in a subprocess: creating, describing, saving and loading worlds, and the
contract for a user's mistake: exit code 2, exactly one line on stderr, no traceback, nothing left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import data_file
from inprocess import run_cli

from sim import __version__

ROOT = Path(__file__).resolve().parents[1]


def agora(cwd: Path, *args: str, program: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI with ``cwd`` as working directory and saves folder; stdout/stderr captured as text."""
    env = {**os.environ, "AGORA_SAVES": str(cwd)}
    env.pop("AGORA_PROGRESS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    if program is None:  # the command itself, run in this process (tests/inprocess.py)
        return run_cli(args, cwd=cwd, env=env, timeout=300)
    return subprocess.run(program + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def ok_json(proc: subprocess.CompletedProcess) -> dict:
    ok(proc)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout  # --json prints one JSON object on one line
    return json.loads(lines[0])


def user_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert the user-mistake contract and return the single stderr line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.endswith("\n")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("agora"), lines[0]
    assert "error" in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert proc.stdout == ""
    return lines[0]


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture(scope="module")
def email(tmp_path_factory) -> Path:
    """A folder holding e.db (imported email-Eu-core) and e.snap (its snapshot)."""
    src = data_file("email-Eu-core.txt")
    folder = tmp_path_factory.mktemp("email")
    ok(agora(folder, "new", "e.db", "--edges", str(src)))
    ok(agora(folder, "save", "e.db", "e.snap"))
    return folder


# -- help ---------------------------------------------------------------------------------------------


def test_help(tmp_path):
    proc = ok(agora(tmp_path, "--help"))
    assert proc.stdout.startswith("usage: agora")
    for command in ("new", "info", "save", "load"):
        assert command in proc.stdout
    assert proc.stderr == ""


def test_new_help(tmp_path):
    proc = ok(agora(tmp_path, "new", "--help"))
    assert proc.stdout.startswith("usage: agora new")
    for option in ("--agents", "--edges", "--graph", "--avg-degree", "--mixing", "--seed", "--force", "--json"):
        assert option in proc.stdout


def test_version(tmp_path):
    assert ok(agora(tmp_path, "--version")).stdout.strip() == f"agora {__version__}"


@pytest.mark.subprocess
def test_console_script_help(tmp_path):
    script = Path(sys.executable).parent / "agora"
    if not script.exists():
        script = shutil.which("agora")
        if script is None:
            pytest.skip("the agora console script is not installed (pip install -e .)")
    proc = ok(agora(tmp_path, "--help", program=[str(script)]))
    assert proc.stdout.startswith("usage: agora")
    assert ok(agora(tmp_path, "new", "--help", program=[str(script)])).stdout.startswith("usage: agora new")


# -- new / info ---------------------------------------------------------------------------------------


def test_new_synthetic_json(tmp_path):
    info = ok_json(agora(tmp_path, "new", "w.db", "--agents", "2000", "--json"))
    path = tmp_path / "w.db"
    assert path.is_file()
    assert Path(info["path"]) == path.resolve()
    assert info["agents"] == 2000
    assert 0.97 * 2000 * 10 <= info["edges"] <= 2000 * 10  # default --avg-degree 10: about N*K edges
    assert info["edges"] % 2 == 0
    assert info["communities"] == 22  # default: about sqrt(N)/2
    assert info["size_bytes"] >= path.stat().st_size > 0
    assert info["name"] == "w"
    assert info["seed"] == 0
    assert info["source"]["kind"] == "synthetic" and info["source"]["graph"] == "community"


def test_new_synthetic_options(tmp_path):
    info = ok_json(
        agora(
            tmp_path,
            "new",
            "s.db",
            "--agents",
            "1_500",
            "--graph",
            "sbm",
            "--communities",
            "7",
            "--avg-degree",
            "6",
            "--mixing",
            "0.1",
            "--seed",
            "3",
            "--name",
            "demo",
            "--json",
        )
    )
    assert info["agents"] == 1500
    assert info["communities"] == 7
    assert info["name"] == "demo" and info["seed"] == 3
    assert info["source"]["graph"] == "sbm" and info["source"]["mixing"] == 0.1
    assert 0.97 * 1500 * 6 <= info["edges"] <= 1500 * 6


def test_new_is_deterministic_and_seeded(tmp_path):
    a = ok_json(agora(tmp_path, "new", "a.db", "--agents", "3000", "--graph", "ba", "--seed", "9", "--json"))
    b = ok_json(agora(tmp_path, "new", "b.db", "--agents", "3000", "--graph", "ba", "--seed", "9", "--json"))
    assert a["edges"] == b["edges"]
    from sim.store.worldfile import open_world

    wa, wb = asyncio.run(open_world(str(tmp_path / "a.db"))), asyncio.run(open_world(str(tmp_path / "b.db")))
    assert np.array_equal(wa.graph.out_indices, wb.graph.out_indices)
    assert np.array_equal(wa.columns["interests"], wb.columns["interests"])


def test_new_text_output(tmp_path):
    proc = ok(agora(tmp_path, "new", "t.db", "--agents", "2000"))
    assert "agents       2,000" in proc.stdout
    assert "created in" in proc.stdout
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


def test_new_import_email(tmp_path):
    src = data_file("email-Eu-core.txt")
    # A relative path, resolved against the working directory. Symbolic links (a linked ../shared, a linked
    # temporary folder) are resolved first: '..' in a path walks the real folders, not the links.
    rel = os.path.relpath(src.resolve(), tmp_path.resolve())
    info = ok_json(agora(tmp_path, "new", "email.db", "--edges", rel, "--json"))
    assert info["agents"] == 1005
    assert info["edges"] == 32128
    assert info["communities"] is None
    assert info["source"]["kind"] == "import"
    assert info["source"]["lines"] == 25571
    assert info["source"]["self_loops_dropped"] == 642
    assert Path(info["source"]["file"]).resolve() == src.resolve()


def test_new_import_directed(tmp_path):
    src = data_file("email-Eu-core.txt")
    pairs = set()
    for line in src.read_text().splitlines():
        u, v = line.split()
        if u != v:
            pairs.add((u, v))
    info = ok_json(agora(tmp_path, "new", "d.db", "--edges", str(src), "--directed", "--json"))
    assert info["edges"] == len(pairs)
    assert info["source"]["directed"] is True


def test_info_json_matches_new(tmp_path):
    created = ok_json(agora(tmp_path, "new", "w.db", "--agents", "2000", "--json"))
    info = ok_json(agora(tmp_path, "info", "w.db", "--json"))
    for key in ("path", "name", "agents", "edges", "communities", "seed", "tick", "source"):
        assert info[key] == created[key], key
    assert info["tick"] == 0
    assert info["size_bytes"] >= (tmp_path / "w.db").stat().st_size


def test_info_text(email):
    proc = ok(agora(email, "info", "e.db"))
    assert "agents       1,005" in proc.stdout
    assert "edges        32,128" in proc.stdout
    assert "642 self-loops dropped" in proc.stdout


def test_agent_json(email):
    data = ok_json(agora(email, "agent", "e.db", "506", "--json"))
    assert data["id"] == 506
    assert data["followers"] == data["followees"] > 0  # undirected import


# -- save / load --------------------------------------------------------------------------------------


def test_save_load_round_trip(email, tmp_path):
    shutil.copy(email / "e.db", tmp_path / "e.db")
    saved = ok_json(agora(tmp_path, "save", "e.db", "e.snap", "--json"))
    snap = tmp_path / "e.snap"
    assert snap.is_file() and saved["size_bytes"] == snap.stat().st_size
    assert Path(saved["snapshot"]) == snap.resolve()
    assert saved["tick"] == 0
    loaded = ok_json(agora(tmp_path, "load", "e.snap", "back.db", "--json"))
    before = ok_json(agora(tmp_path, "info", "e.db", "--json"))
    after = ok_json(agora(tmp_path, "info", "back.db", "--json"))
    for key in ("agents", "edges", "communities", "seed", "tick", "name", "source"):
        assert after[key] == before[key] == loaded[key], key
    assert after["agents"] == 1005 and after["edges"] == 32128

    from sim.core.world import GRAPH_ARRAYS
    from sim.store.worldfile import open_world

    a = asyncio.run(open_world(str(tmp_path / "e.db")))
    b = asyncio.run(open_world(str(tmp_path / "back.db")))
    for k in GRAPH_ARRAYS:
        assert np.array_equal(getattr(a.graph, k), getattr(b.graph, k)), k
    for k, col in a.columns.items():
        assert col.dtype == b.columns[k].dtype and np.array_equal(col, b.columns[k]), k
    assert a.persona(0) == b.persona(0)


# -- --force ------------------------------------------------------------------------------------------


def test_new_refuses_existing_target_without_force(tmp_path):
    ok(agora(tmp_path, "new", "w.db", "--agents", "2000"))
    before = (tmp_path / "w.db").read_bytes()
    line = user_error(agora(tmp_path, "new", "w.db", "--agents", "500"), "already exists", "--force")
    assert "w.db" in line
    assert (tmp_path / "w.db").read_bytes() == before
    info = ok_json(agora(tmp_path, "new", "w.db", "--agents", "500", "--force", "--json"))
    assert info["agents"] == 500
    assert ok_json(agora(tmp_path, "info", "w.db", "--json"))["agents"] == 500


def test_save_refuses_existing_snapshot_without_force(email, tmp_path):
    shutil.copy(email / "e.db", tmp_path / "e.db")
    (tmp_path / "e.snap").write_bytes(b"precious")
    user_error(agora(tmp_path, "save", "e.db", "e.snap"), "already exists", "--force")
    assert (tmp_path / "e.snap").read_bytes() == b"precious"
    ok(agora(tmp_path, "save", "e.db", "e.snap", "--force"))
    assert (tmp_path / "e.snap").read_bytes().startswith(b"AGORASNP")


def test_load_refuses_existing_world_without_force(email, tmp_path):
    shutil.copy(email / "e.snap", tmp_path / "e.snap")
    ok(agora(tmp_path, "new", "w.db", "--agents", "300"))
    before = (tmp_path / "w.db").read_bytes()
    user_error(agora(tmp_path, "load", "e.snap", "w.db"), "already exists", "--force")
    assert (tmp_path / "w.db").read_bytes() == before
    ok(agora(tmp_path, "load", "e.snap", "w.db", "--force"))
    assert ok_json(agora(tmp_path, "info", "w.db", "--json"))["agents"] == 1005


# -- user mistakes ------------------------------------------------------------------------------------


def test_missing_world_file(tmp_path):
    user_error(agora(tmp_path, "info", "nope.db"), "nope.db", "does not exist")
    user_error(agora(tmp_path, "save", "nope.db", "x.snap"), "nope.db", "does not exist")
    assert files_in(tmp_path) == set()


def test_missing_edge_file(tmp_path):
    user_error(agora(tmp_path, "new", "x.db", "--edges", "missing.txt"), "missing.txt", "does not exist")
    assert files_in(tmp_path) == set()


def test_malformed_edge_line_names_its_number(tmp_path):
    (tmp_path / "bad.txt").write_text("# comment\n1 2\n2 3\n3\n4 5\n")
    user_error(agora(tmp_path, "new", "x.db", "--edges", "bad.txt"), "line 4")
    (tmp_path / "bad.csv").write_text("source,target\n1,2\n2,three\n")
    # The line and field are named, never the cell (issue 71: a file's bytes are never printed).
    said = user_error(agora(tmp_path, "new", "x.db", "--edges", "bad.csv"), "line 3", "second id")
    assert "three" not in said
    assert files_in(tmp_path) == {"bad.txt", "bad.csv"}


@pytest.mark.parametrize(
    "args, needles",
    [
        pytest.param(["--agents", "abc"], ["--agents", "abc"], id="agents-abc"),
        pytest.param(["--agents", "0"], ["--agents", "at least 1"], id="agents-0"),
        pytest.param(["--agents", "-5"], ["--agents"], id="agents-negative"),
        pytest.param(["--agents", "100", "--mixing", "2"], ["--mixing"], id="mixing-2"),
        pytest.param(["--agents", "100", "--mixing", "nan"], ["--mixing"], id="mixing-nan"),
        pytest.param(["--agents", "100", "--avg-degree", "inf"], ["--avg-degree"], id="degree-inf"),
        pytest.param(["--agents", "10", "--avg-degree", "20"], ["--avg-degree"], id="degree-above-n"),
        pytest.param(["--agents", "100", "--communities", "500"], ["--communities"], id="communities-above-n"),
        pytest.param(["--agents", "100", "--graph", "smallworld"], ["--graph"], id="graph-unknown"),
        pytest.param([], ["--agents", "--edges"], id="no-source"),
        pytest.param(["--agents", "100", "--edges", "x.txt"], ["not allowed"], id="both-sources"),
    ],
)
def test_bad_new_arguments(tmp_path, args, needles):
    user_error(agora(tmp_path, "new", "x.db", *args), *needles)
    assert files_in(tmp_path) == set()  # nothing half-made


def test_target_folder_missing(tmp_path):
    user_error(agora(tmp_path, "new", "sub/x.db", "--agents", "100"), "does not exist")
    assert files_in(tmp_path) == set()


def test_world_file_that_is_not_a_world(tmp_path):
    (tmp_path / "notes.db").write_text("hello\n")
    user_error(agora(tmp_path, "info", "notes.db"), "not an Agora world")


def _snapshot_variants(good: bytes) -> dict[str, bytes]:
    offset = struct.unpack(">Q", good[-20:-12])[0]  # trailer: manifest offset, CRC-32, b"AGORAEND"
    flipped_data = bytearray(good)
    flipped_data[20] ^= 0xFF  # inside the first array's compressed bytes
    flipped_manifest = bytearray(good)
    flipped_manifest[offset + 10] ^= 0xFF
    no_end = good[:-8] + b"AGORAXXX"
    return {
        "truncated": good[: len(good) // 2],
        "flipped-array-byte": bytes(flipped_data),
        "flipped-manifest-byte": bytes(flipped_manifest),
        "no-end-marker": no_end,
        "empty": b"",
        "garbage": bytes(range(256)) * 4,
        "magic-only": good[:9],
        "future-version": good[:8] + bytes([99]) + good[9:],
    }


@pytest.mark.parametrize(
    "variant",
    [
        "truncated",
        "flipped-array-byte",
        "flipped-manifest-byte",
        "no-end-marker",
        "empty",
        "garbage",
        "magic-only",
        "future-version",
    ],
)
def test_load_corrupt_snapshot(email, tmp_path, variant):
    data = _snapshot_variants((email / "e.snap").read_bytes())[variant]
    (tmp_path / "bad.snap").write_bytes(data)
    user_error(agora(tmp_path, "load", "bad.snap", "x.db"), "bad.snap")
    assert files_in(tmp_path) == {"bad.snap"}  # no world written, no temporary left


def test_load_world_file_as_snapshot(email, tmp_path):
    shutil.copy(email / "e.db", tmp_path / "e.db")
    user_error(agora(tmp_path, "load", "e.db", "x.db"), "is a world file, not a snapshot")
    assert not (tmp_path / "x.db").exists()


def test_load_missing_snapshot(tmp_path):
    user_error(agora(tmp_path, "load", "nope.snap", "x.db"), "nope.snap", "does not exist")


def test_usage_errors_are_one_line(tmp_path):
    user_error(agora(tmp_path, "info"), "WORLD")
    user_error(agora(tmp_path, "frobnicate"), "frobnicate")
    user_error(agora(tmp_path, "info", "a.db", "extra"), "extra")


# -- known shortcomings (strict xfail: they pass once fixed) ------------------------------------------


def test_header_only_edge_file_gives_one_line(tmp_path):
    (tmp_path / "h.csv").write_text("source,target\n")
    user_error(agora(tmp_path, "new", "x.db", "--edges", "h.csv"), "has no edges")


def _rewrite_meta(good: bytes, change: dict) -> bytes:
    """A snapshot whose manifest carries changed world metadata, with every checksum made valid again."""
    import msgpack

    offset = struct.unpack(">Q", good[-20:-12])[0]
    manifest = msgpack.unpackb(good[offset:-20], raw=False)
    meta = json.loads(manifest["meta"])
    meta.update(change)
    manifest["meta"] = json.dumps(meta)
    packed = msgpack.packb(manifest, use_bin_type=True)
    return good[:offset] + packed + struct.pack(">QI8s", offset, zlib.crc32(packed), b"AGORAEND")


@pytest.mark.parametrize(
    "change",
    [{"rng_state": {"foo": 1}}, {"rng_state": "garbage"}, {"tick": -5}],
    ids=["rng-state-dict", "rng-state-string", "negative-tick"],
)
def test_load_snapshot_with_invalid_metadata(email, tmp_path, change):
    (tmp_path / "bad.snap").write_bytes(_rewrite_meta((email / "e.snap").read_bytes(), change))
    user_error(agora(tmp_path, "load", "bad.snap", "x.db"), "bad.snap")


# -- the living network ---------------------------------------------------------------------------------


def test_new_with_recommenders_and_a_reserve(tmp_path):
    info = ok_json(
        agora(
            tmp_path,
            "new",
            "w.db",
            "--agents",
            "3000",
            "--recommender",
            "interest",
            "--friend-recommender",
            "adamic-adar",
            "--reserve",
            "0.1",
            "--json",
        )
    )
    assert info["agents"] == 3000
    social = ok_json(agora(tmp_path, "social", "w.db", "--json"))
    assert social["settings"]["recommender"] == "interest"
    assert social["settings"]["friend_recommender"] == "adamic-adar"
    assert social["living"] is True
    import sqlite3

    con = sqlite3.connect(tmp_path / "w.db")
    created = con.execute("SELECT count(*) FROM agent_rows WHERE status = 0").fetchone()[0]
    assert created == 300


def test_social_changes_are_validated_and_saved(tmp_path):
    ok(agora(tmp_path, "new", "w.db", "--agents", "2000"))
    before = (tmp_path / "w.db").read_bytes()
    user_error(agora(tmp_path, "social", "w.db", "--recommender", "nope"), "unknown recommender 'nope'")
    user_error(agora(tmp_path, "social", "w.db", "--social", "join_rate=2"), "join_rate", "[0, 1]")
    user_error(agora(tmp_path, "social", "w.db", "--social", "bogus=1"), "unknown social setting 'bogus'")
    user_error(agora(tmp_path, "social", "w.db", "--social", "join_rate"), "KEY=VALUE")
    assert (tmp_path / "w.db").read_bytes() == before
    out = ok_json(
        agora(
            tmp_path,
            "social",
            "w.db",
            "--recommender",
            "hot",
            "--recommender-param",
            "half_life=3",
            "--social",
            "join_rate=0.01",
            "--json",
        )
    )
    assert out["changed"] and out["settings"]["recommender_params"] == {"half_life": 3.0}
    assert ok_json(agora(tmp_path, "social", "w.db", "--json"))["settings"]["join_rate"] == 0.01
    user_error(
        agora(tmp_path, "social", "w.db", "--recommender", "hot", "--recommender-param", "half_life=-1"), "half_life"
    )


def test_run_with_recommenders_reports_feed_and_graph_reach(tmp_path):
    ok(agora(tmp_path, "new", "w.db", "--agents", "3000", "--avg-degree", "6"))
    user_error(
        agora(tmp_path, "run", "w.db", "--steps", "3", "--inject", "x", "--recommender", "nope"),
        "unknown recommender 'nope'",
    )
    out = ok_json(
        agora(
            tmp_path,
            "run",
            "w.db",
            "--steps",
            "8",
            "--inject",
            "hello",
            "--topic",
            "ai",
            "--seeds",
            "random:20",
            "--recommender",
            "random",
            "--friend-recommender",
            "common-neighbours",
            "--social",
            "accept_rate=0.5",
            "--json",
        )
    )
    run = out["runs"][0]
    assert run["reached"] == run["graph_reached"] + run["feed_reached"] + run["seeds"]
    assert run["feed_exposed"] > 0 and out["social"]["follows"] > 0
    assert out["social"]["recommender"] == "random"
    import sqlite3

    con = sqlite3.connect(tmp_path / "w.db")
    via = con.execute("SELECT coalesce(sum(via), 0) FROM events").fetchone()[0]
    assert via == run["feed_reached"]
    assert con.execute("SELECT count(*) FROM exposures").fetchone()[0] == run["feed_exposed"]
    # a run's flags do not change the world's own settings
    assert ok_json(agora(tmp_path, "social", "w.db", "--json"))["settings"]["recommender"] == "none"


def test_a_mistyped_flag_or_command_gets_the_nearest_one(tmp_path):
    """A typo is refused in one line with exit 2, naming the flag or command meant: wherever argparse
    stumbles (an unknown argument, or a required flag the typo left out), and for a command name."""
    cases = [
        (("run", "w.db", "--untl-done", "--model", "ic"), "did you mean --until-done (not --untl-done)?"),
        (("sweep", "w.db", "--grid", "p=0.1", "--runz", "3"), "did you mean --runs (not --runz)?"),
        (("rn", "w.db"), "did you mean 'run'?"),
    ]
    for args, hint in cases:
        proc = agora(tmp_path, *args)
        assert proc.returncode == 2, proc.stderr
        assert hint in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    proc = agora(tmp_path, "run", "w.db", "--steps", "0")  # no typo: no guess
    assert proc.returncode == 2 and "did you mean" not in proc.stderr


# -- how the command is put together ------------------------------------------------------------------------


@pytest.mark.subprocess
def test_the_terminal_ui_registers_its_commands_through_the_entry_point_group(tmp_path):
    from importlib.metadata import entry_points

    assert {ep.name: ep.value for ep in entry_points(group="agora.commands")}.get("tui") == "tui.commands"
    listed = ok(agora(tmp_path, "--help")).stdout
    assert "    tui       open the terminal UI on a world" in listed
    assert "keypress-to-screen latency" in ok(agora(tmp_path, "bench", "--help")).stdout
    assert "--checkpoint-every N" in ok(agora(tmp_path, "tui", "--help")).stdout
    # Run through the entry point's handler: without a terminal it describes the world it would open.
    world = tmp_path / "w.db"
    ok(agora(tmp_path, "new", str(world), "--agents", "300"))
    env_free = {k: v for k, v in os.environ.items() if k != "AGORA_FORCE_TUI"}
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "tui", str(world)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env_free, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "agents       300" in proc.stdout and "(no terminal: the UI needs one" in proc.stdout


def test_without_the_entry_point_agora_and_agora_tui_say_so_in_one_sentence(tmp_path):
    """A checkout used without ``pip install -e .`` has no entry points: the UI's commands are one sentence
    and exit 2; the headless commands work."""
    code = "import sys, sim.cli.main as m; m.command_groups = lambda: []; sys.exit(m.main(sys.argv[1:]))"
    program = [sys.executable, "-c", code]
    for args in ((), ("tui",), ("tui", "some.db")):
        user_error(agora(tmp_path, *args, program=program), "'agora.commands'", "pip install -e .")
    assert "open the terminal UI" not in ok(agora(tmp_path, "--help", program=program)).stdout
    assert ok(agora(tmp_path, "topics", "--json", program=program)).stdout.startswith('{"topics"')


def test_every_command_and_benchmark_has_a_handler():
    import argparse

    from sim.cli.main import _handler, command_groups
    from sim.cli.parser import BUILTIN_COMMANDS, build_parser

    groups = command_groups()
    sub = next(a for a in build_parser(groups)._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(BUILTIN_COMMANDS) | {c for g in groups for c in g.COMMANDS}
    assert set(next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices) == set(
        BUILTIN_COMMANDS
    )
    bench = next(a for a in sub.choices["bench"]._actions if isinstance(a, argparse._SubParsersAction))
    handlers = {c: _handler(argparse.Namespace(command=c), groups) for c in sub.choices if c != "bench"}
    handlers |= {f"bench {b}": _handler(argparse.Namespace(command="bench", bench=b), groups) for b in bench.choices}
    handlers[None] = _handler(argparse.Namespace(command=None), groups)
    assert all(callable(h) for h in handlers.values()), handlers
    assert handlers["bench tui"].__module__ == handlers["tui"].__module__ == handlers[None].__module__ == "tui.commands"
    assert handlers["bench analysis"].__module__ == "sim.cli.bench" and handlers["llm"].__module__ == "sim.cli.llm"
    assert handlers["bench llm"].__module__ == handlers["bench memory"].__module__ == "sim.cli.bench"
    assert handlers["bench world"].__module__ == "sim.cli.bench" and handlers["run"].__module__ == "sim.cli.run"


def test_the_parser_names_the_plugin_templates_there_are():
    from sim.authoring.templates import TEMPLATES
    from sim.cli.parser import PLUGIN_TEMPLATES

    assert PLUGIN_TEMPLATES == TEMPLATES


def test_help_imports_no_command_and_no_module_imports_main():
    """``agora --help`` builds the whole parser without the engine, numpy, rich or Textual (the flags declared as
    a request's options read sim.engine.fields, which imports none of them); the command
    modules share sim.cli.args and sim.cli.output, and none of them imports sim.cli.main."""
    import ast

    code = (
        "import sys; from sim.cli.main import command_groups; from sim.cli.parser import build_parser; "
        "build_parser(command_groups()); "
        "print(sorted(m for m in ('numpy', 'igraph', 'rich', 'textual', 'tui.app', 'sim.store.worldfile', "
        "'sim.runs.runner', 'sim.cli.run', 'sim.cli.world', 'sim.engine.requests') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    # A headless run or sweep loads no benchmark, no rich (only drawn for a terminal) and no optional library.
    code = (
        "import sys, sim.cli.run, sim.cli.world, sim.cli.sweep; print(sorted(m for m in sys.modules if m.startswith("
        "('sim.bench', 'rich', 'textual', 'tui', 'matplotlib', 'pyarrow', 'openai', 'ray', 'sim.authoring'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    for path in sorted((ROOT / "sim" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                assert "sim.cli.main" not in names, path.name


def test_the_console_script_exits_with_mains_code_and_skips_the_last_collection(monkeypatch):
    # entry() is the agora script: main's exit code, with every object frozen out of the interpreter's
    # last full collection (0.4-0.7 s after an ensemble has loaded Numba).
    import gc

    from sim.cli import main as cli_main

    monkeypatch.setattr(cli_main, "main", lambda: 3)
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as e:
            cli_main.entry()
        assert e.value.code == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
