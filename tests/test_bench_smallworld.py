"""``agora bench ensembles`` (sim.bench.smallworld): the CyNetDiff script does the whole job it stands for,
the in-process race reports every figure its verdicts read and judges them by the targets, and a missing
dataset is said, not raised."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sim
from sim.bench import smallworld
from sim.cli.main import main


def _path_edges(tmp_path, n: int):
    """A path of ``n`` agents as SNAP writes an undirected list (one pair a line)."""
    edges = tmp_path / "path.txt"
    edges.write_text("".join(f"{i} {i + 1}\n" for i in range(n - 1)))
    return edges


@pytest.mark.parametrize(("p", "reached"), [(1.0, 20.0), (0.0, 10.0)])
def test_the_cynetdiff_script_reaches_what_the_rule_says(tmp_path, p, reached):
    """On a path of 20 agents each friendship both ways: p = 1 reaches everyone from any 10 seeds, p = 0 only
    the seeds."""
    pytest.importorskip("cynetdiff")
    edges = _path_edges(tmp_path, 20)
    res = subprocess.run(
        [sys.executable, str(smallworld._RACE), str(edges), "30", str(p)], capture_output=True, text=True, check=True
    )
    assert float(res.stdout.strip()) == reached


def test_the_cynetdiff_script_says_its_usage(tmp_path):
    res = subprocess.run([sys.executable, str(smallworld._RACE)], capture_output=True, text=True)
    assert res.returncode == 2 and "usage: python cynetdiff_race.py EDGES RUNS P" in res.stderr


def test_the_in_process_race_reports_every_figure_its_verdicts_read(tmp_path):
    pytest.importorskip("cynetdiff")
    db = tmp_path / "w.db"
    sim.new_world(str(db), agents=400, avg_degree=6, seed=2)
    r = smallworld.in_process(str(db), runs=20, p=0.2, repeats=1)
    for key in ("agora_one_core_seconds", "agora_all_cores_seconds", "cynetdiff_seconds", "per_run_ms"):
        assert r[key] > 0, key
    assert r["per_run_fixed_ms"] > 0
    assert r["agora_reached_mean"] >= 10 and r["cynetdiff_reached_mean"] >= 10
    assert r["met"]["all_cores"] == (r["all_cores_speedup"] >= smallworld.TARGETS["in_process_all_cores_speedup"])
    assert r["met"]["one_core"] == (r["one_core_ratio"] <= smallworld.TARGETS["in_process_one_core_over_cynetdiff"])


def test_a_missing_dataset_is_said_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("AGORA_DATA", str(tmp_path))
    r = smallworld.bench_small_world(runs=10, repeats=1)
    assert r["available"] is False
    assert r["reason"] == f"{tmp_path / 'facebook_combined.txt'} is missing: set $AGORA_DATA to the datasets' folder"
    assert smallworld.small_world_lines(r) == [f"skipped: {r['reason']}"]


def test_out_of_range_settings_are_one_sentence(capsys):
    assert main(["bench", "ensembles", "--runs", "200000"]) == 2
    assert capsys.readouterr().err.strip() == "agora: error: --runs 200,000 is out of range: give 1 to 100,000"
    with pytest.raises(SystemExit) as e:
        main(["bench", "ensembles", "--p", "2"])
    assert e.value.code == 2


def test_the_whole_process_race_alone_says_a_missing_dataset(tmp_path, monkeypatch):
    """``agora bench propagation --small-runs`` runs race 1 alone, and says why it cannot."""
    monkeypatch.setenv("AGORA_DATA", str(tmp_path))
    r = smallworld.whole_process_race(runs=10, repeats=1)
    assert r == {
        "available": False,
        "reason": f"{tmp_path / 'facebook_combined.txt'} is missing: set $AGORA_DATA to the datasets' folder",
    }
