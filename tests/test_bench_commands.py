"""``agora bench commands`` at a small size: every command runs as a user runs it, each beside its yardstick
from the same run, and the report says whether the (scaled) targets hold."""

from __future__ import annotations

import json

import pytest
from conftest import agora

from sim.bench.commands import bench_commands


@pytest.mark.subprocess
@pytest.mark.slow
def test_bench_commands_times_each_command_beside_its_yardstick(tmp_path):
    r = bench_commands(3000, avg_degree=6, repeats=2, folder=str(tmp_path))
    assert set(r["commands"]) == {"new", "save", "load", "analyze"}
    for name, c in r["commands"].items():
        assert len(c["seconds"]) == 2 and c["seconds_median"] == pytest.approx(sum(c["seconds"]) / 2, abs=2e-3)
        assert all(s > 0 for s in c["seconds"]) and all(m > 10 for m in c["peak_rss_mb"]), name
        assert len(c["yardstick"]["seconds"]) == 2 and c["yardstick"]["seconds_median"] > 0
        assert c["ratio_to_yardstick"] == pytest.approx(
            c["seconds_median"] / c["yardstick"]["seconds_median"], rel=0.02
        )
        assert c["command"].startswith(f"agora {name} ") and str(tmp_path) not in c["command"]
        assert c["within_target"] is (
            c["seconds_median"] <= c["target_seconds"]
            and c["peak_rss_mb_max"] <= c.get("target_peak_rss_mb", float("inf"))
        )
    assert r["commands"]["new"]["target_seconds"] == 10.0 and r["commands"]["load"]["target_peak_rss_mb"] == 800.0
    assert r["all_within_targets"] is all(c["within_target"] for c in r["commands"].values())
    # What the events cost: one cascade run into the world, then save and load with its events and --slim.
    ev = r["events"]
    assert ev["run"]["events"] > 100 and ev["run"]["command"].startswith("agora run W --inject")
    full, slim = ev["with_events"], ev["slim"]
    for kind in (full, slim):
        assert len(kind["save_seconds"]) == len(kind["load_seconds"]) == 2 and kind["load_seconds_median"] > 0
    assert full["snapshot_bytes"] > slim["snapshot_bytes"] > 0
    assert ev["events_cost"]["snapshot_bytes"] == full["snapshot_bytes"] - slim["snapshot_bytes"]
    assert list(tmp_path.iterdir()) == []  # the worlds are removed as it goes


@pytest.mark.subprocess
def test_the_command_prints_json_and_can_skip_the_analysis(tmp_path):
    res = agora(tmp_path, "bench", "commands", "--agents", "1500", "--repeats", "1", "--no-analysis", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data["commands"]) == {"new", "save", "load"}
