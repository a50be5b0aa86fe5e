"""``--seeds file:PATH``: original agent ids from a file, on ``agora run`` and ``agora sweep``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, digest

from sim.errors import BadParameterError
from sim.model.seeds import SeedSpec, read_seed_file


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    out = agora(folder, "new", "w.db", "--agents", "30000", "--avg-degree", "4", "--seed", "5")
    assert out.returncode == 0, out.stderr
    return folder / "w.db"


def test_read_seed_file_skips_blanks_and_comments(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("# seed accounts\n\n17\n  42  # a note\r\n\n# 99\n-3\n17\n")
    assert read_seed_file(str(path)).tolist() == [17, 42, -3, 17]
    spec = SeedSpec.parse(f"file:{path}")
    assert spec.kind == "file" and str(spec) == f"file:{path}"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "lists no agent ids"),
        ("# only a comment\n\n", "lists no agent ids"),
        ("1\n2\nthree\n", "line 3"),
        ("1\n2.5\n", "line 2"),
        ("99999999999999999999999\n", "line 1"),
    ],
)
def test_malformed_seed_files_are_one_sentence(tmp_path, text, needle):
    path = tmp_path / "s.txt"
    path.write_text(text)
    with pytest.raises(BadParameterError, match=needle):
        SeedSpec.parse(f"file:{path}")


def test_missing_seed_file(tmp_path):
    with pytest.raises(BadParameterError, match="cannot be read"):
        SeedSpec.parse(f"file:{tmp_path / 'none.txt'}")


def test_run_seeds_tens_of_thousands_of_ids_from_a_file(world_file, tmp_path):
    world = tmp_path / "w.db"
    world.write_bytes(world_file.read_bytes())
    ids = np.random.default_rng(1).choice(30000, size=20000, replace=False)
    path = tmp_path / "seeds.txt"
    path.write_text("# twenty thousand accounts\n" + "\n".join(map(str, ids)) + "\n\n" + str(ids[0]) + "  # again\n")
    out = agora(
        tmp_path,
        "run",
        str(world),
        "--steps",
        "2",
        "--inject",
        "x",
        "--seeds",
        f"file:{path}",
        "--param",
        "p=0.0",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    run = data["runs"][0]
    assert run["seeds"] == 20000 and run["reached"] == 20000
    assert data["seeds"] == f"file:{path}"
    import asyncio

    from sim.store.worldfile import open_world

    w = asyncio.run(open_world(str(world)))
    s = w.sessions[-1]
    seeded = np.flatnonzero(s.adopted_at == s.started_tick)
    assert set(w.columns["ids"][seeded].tolist()) == set(ids.tolist())


def test_unknown_ids_are_refused_naming_the_first_and_the_count(world_file, tmp_path):
    world = tmp_path / "w.db"
    world.write_bytes(world_file.read_bytes())
    before = digest(world)
    path = tmp_path / "seeds.txt"
    path.write_text("5\n123456789\n7\n555555555\n123456789\n")
    for command in (["run", str(world), "--steps", "2", "--inject", "x"], ["sweep", str(world), "--runs", "2"]):
        out = agora(tmp_path, *command, "--seeds", f"file:{path}")
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        # The line is named, never its content (a file's content is never quoted back).
        assert "line 2 " in out.stderr and "2 of its 4 distinct ids are unknown" in out.stderr, out.stderr
        assert "123456789" not in out.stderr and "555555555" not in out.stderr, out.stderr
    assert digest(world) == before


def test_sweep_seeds_from_a_file_in_worker_processes(world_file, tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_text("\n".join(str(i) for i in range(0, 3000, 3)) + "\n")
    out = agora(
        tmp_path,
        "sweep",
        str(world_file),
        "--seeds",
        f"file:{path}",
        "--grid",
        "p=0.0,0.01",
        "--runs",
        "2",
        "--steps",
        "2",
        "--workers",
        "2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["seeds"] == f"file:{path}"
    assert data["results"][0]["reached"] == [1000, 1000]  # p = 0: exactly the seeds
    assert all(r >= 1000 for r in data["results"][1]["reached"])
