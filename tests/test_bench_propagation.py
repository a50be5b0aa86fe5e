"""``agora bench propagation`` at a small size: every section reports, the ensemble section measures what
``agora run --runs`` does against the plain kernel on the same graph."""

from __future__ import annotations

import pytest

from sim.bench.engine import bench_propagation


def test_bench_propagation_reports_the_ensemble_beside_the_kernel():
    r = bench_propagation(4000, p=0.3, ndlib_agents=3000, repeats=2, sessions=3, ensemble_runs=3, small_ensemble_runs=4)
    e = r["ensemble"]
    assert e["runs"] == 3 and e["seconds_per_run"] > 0 and e["baseline_kernel_seconds_median"] > 0
    assert e["texts_skipped"] is True
    # p 0.3 over about ten followers is far above the threshold: both reach most of the graph.
    assert e["reached_mean"] > 0.5 * 4000 and e["baseline_kernel_reached_mean"] > 0.5 * 4000
    # (from the unrounded seconds: the rounded ones give it to about 5 %)
    assert e["ratio_to_baseline"] == pytest.approx(
        e["baseline_kernel_seconds_median"] / e["seconds_per_run"], rel=0.1, abs=0.002
    )
    assert r["ensemble_small"]["runs"] == 4 and r["ndlib"]["agora_ensemble_seconds_per_run"] > 0
    assert r["targets"]["ensemble_ratio_to_baseline"] == 0.7
    # Both ways the command runs an ensemble: one process, and a forked worker per CPU (one on one CPU).
    assert e["seconds_per_run_one_worker"] > 0 and len(e["seconds_per_run_one_worker_each"]) == e["repeats"]
    assert e["ratio_to_baseline_one_worker"] == pytest.approx(
        e["baseline_kernel_seconds_median"] / e["seconds_per_run_one_worker"], rel=0.1, abs=0.002
    )
    assert e["workers"] >= 1
    if r["ndlib"].get("available"):  # NDlib is an optional extra
        nd = r["ndlib"]
        assert len(nd["seconds_each"]) == 3 and nd["seconds"] == pytest.approx(sorted(nd["seconds_each"])[1], abs=1e-3)
        assert nd["ensemble_speedup_one_worker"] > 0
