"""``agora bench world`` on a small world: every phase runs and its figures are consistent."""

from __future__ import annotations

import json

from sim.cli.main import main


def test_bench_world_reports_every_phase(tmp_path, capsys):
    assert main(["bench", "world", "--agents", "20000", "--dir", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["agents"] == 20000 and r["edges"] > 150_000
    for key in ("generate_s", "persist_s", "open_s", "snapshot_save_s", "snapshot_load_s", "baseline_uniform_graph_s"):
        assert r[key] > 0, key
    # PageRank as analyze computes it agrees with igraph's PRPACK on the same graph.
    pr = r["pagerank"]
    assert pr["pagerank_s"] > 0 and pr["baseline_igraph_total_s"] > 0
    assert pr["max_abs_difference"] < 1e-9
    # The headless cascade ran to the end and wrote one event per adopter through the world's writer.
    run = r["run"]
    assert run["status"] == "completed" and run["seeds"] == 100
    assert run["reached"] >= 100 and run["events_written"] == run["reached"]
    assert run["edge_attempts_per_second"] > 0 and run["baseline_kernel_edge_attempts_per_second"] > 0
    # The peak is the high-water mark of Agora's own work; the igraph baseline is reported beside it.
    assert 0 < r["peak_rss_mb"] <= r["peak_rss_with_baselines_mb"]
    assert r["targets"]["generate_s"] == 10 and r["targets_scaled_from_1m_by"] == 1.0


def test_bench_world_can_skip_the_run_and_the_analysis(tmp_path, capsys):
    assert (
        main(
            [
                "bench",
                "world",
                "--agents",
                "5000",
                "--dir",
                str(tmp_path),
                "--run-ticks",
                "0",
                "--no-analysis",
                "--json",
            ]
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert "run" not in r and "pagerank" not in r
