"""Files are data: what a compressed edge list can cost is bounded. A gzip file that expands more than
``MAX_RATIO`` times (real edge lists: 2 to 4) is refused while it is decompressed — one sentence naming
the file, the limit and how to go on (exit code 2, no world written) — and the memory an import needs is
counted from the text and its lines before numpy parses it. The bombs are generated here, small on disk.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import data_file

from sim.errors import BadParameterError, ResourceError
from sim.store import importer
from sim.store.importer import read_edge_list

#: The documented default limit and the variable that raises it (docs/worlds.md).
MAX_RATIO = 100
RATIO_ENV = "AGORA_IMPORT_MAX_RATIO"

ROOT = Path(__file__).resolve().parents[1]


def bomb(path: Path, lines: int, line: bytes = b"1 2\n") -> Path:
    """``lines`` copies of ``line``, gzip-compressed as tightly as gzip goes (a few bytes per 1000 lines)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = line * 1_000_000
    with open(path, "wb") as fh:
        for _ in range(lines // 1_000_000):
            fh.write(comp.compress(block))
        fh.write(comp.compress(line * (lines % 1_000_000)))
        fh.write(comp.flush())
    return path


def agora_measured(*args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, int]:
    """Run agora in a child of a child and return its result and the child's peak RSS in bytes."""
    code = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-m', 'sim', *sys.argv[1:]], capture_output=True, text=True)\n"
        "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(r.returncode)\n"
    )
    e = {k: v for k, v in os.environ.items() if k != RATIO_ENV}
    e.update(env or {})
    p = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=e, cwd=ROOT, timeout=300
    )
    *lines, peak = p.stderr.splitlines()
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout, "\n".join(lines) + ("\n" if lines else "")), int(
        peak
    ) * 1024


def test_a_gzip_bomb_is_refused_early_with_one_sentence(tmp_path):
    edges = bomb(tmp_path / "edges.txt.gz", 10_000_000)  # 40 MB of '1 2' lines in about 40 KB
    assert edges.stat().st_size < 100_000
    target = tmp_path / "w.db"
    r, peak = agora_measured("new", str(target), "--edges", str(edges))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(edges) in r.stderr and f"more than {MAX_RATIO} times" in r.stderr and f"{RATIO_ENV}=" in r.stderr
    assert "decompress it yourself" in r.stderr
    assert not target.exists() and [p.name for p in tmp_path.iterdir()] == ["edges.txt.gz"]
    # Refused within its first megabytes: what the process held is what starting Agora costs.
    assert peak < 400 * 2**20, f"peak RSS {peak / 2**20:.0f} MiB"


def test_the_limit_can_be_raised_for_a_file_you_trust(tmp_path):
    assert (importer.MAX_RATIO, importer.RATIO_ENV) == (MAX_RATIO, RATIO_ENV)
    edges = bomb(tmp_path / "ok.gz", 1_000_000)  # 4 MB from about 4 KB
    with pytest.raises(ResourceError, match="expands more than 100 times"):
        read_edge_list(str(edges))
    el = read_edge_list(str(edges), max_ratio=5000)
    assert el.stats["lines"] == 1_000_000 and el.src.tolist() == [0, 1] and el.stats["duplicates_merged"] == 1_999_998
    r, _ = agora_measured("new", str(tmp_path / "w.db"), "--edges", str(edges), env={RATIO_ENV: "5000"})
    assert r.returncode == 0, r.stderr
    r, _ = agora_measured("new", str(tmp_path / "w2.db"), "--edges", str(edges), env={RATIO_ENV: "lots"})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and RATIO_ENV in r.stderr
    with pytest.raises(BadParameterError, match="1 or more"):
        read_edge_list(str(edges), max_ratio=0.5)


def test_small_files_and_real_data_pass_under_the_default_limit(tmp_path):
    small = bomb(tmp_path / "small.gz", 200_000)  # 800 KB: under the floor, whatever its ratio
    assert read_edge_list(str(small)).stats["lines"] == 200_000
    real = tmp_path / "facebook.txt.gz"
    real.write_bytes(gzip.compress(data_file("facebook_combined.txt").read_bytes(), 9))
    el = read_edge_list(str(real))
    assert el.stats["lines"] == 88_234 and el.ids.size == 4039


def test_memory_is_counted_from_the_lines_before_numpy_parses(tmp_path, monkeypatch):
    """Short lines cost far more per byte than the text: 40 MB of '1 2' lines take gigabytes to parse and
    remap. The count of lines is checked against the memory available before the parser runs."""
    edges = tmp_path / "many.txt"
    edges.write_bytes(b"1 2\n" * 2_000_000)  # 8 MB, 2 million lines: about 240 MB to import
    gz = bomb(tmp_path / "many.gz", 2_000_000)

    class Small:
        available = 100 * 2**20  # the text fits (8 MB x 8), its lines do not

    monkeypatch.setattr(importer.psutil, "virtual_memory", lambda: Small())

    def no_parse(*a, **k):
        raise AssertionError("the parser ran before the memory check")

    monkeypatch.setattr(np, "loadtxt", no_parse)
    for path, said in ((edges, "in 2,000,000 lines"), (gz, "in at least")):  # the gzip one: while decompressing it
        with pytest.raises(ResourceError, match=said) as info:
            read_edge_list(str(path), max_ratio=10_000)
        assert str(path) in str(info.value) and "GiB of memory available" in str(info.value)
