"""``agora bench fit``: a small fit and its yardstick on a small stand-in for ego-Facebook report both rates,
their ratio, the posterior against the truth and a verdict computed from the figures; the flags parse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.bench.fit import DATASET, TARGET, TRUTH, bench_fit, fit_lines, seconds_for_target, verdict
from sim.cli.main import main
from sim.cli.parser import build_parser


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder holding a ``facebook_combined.txt`` of 400 agents and about 3,000 friendships (SNAP's layout),
    on which the sir truth spreads."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(7)
    pairs = rng.integers(0, 400, size=(3000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    (folder / DATASET).write_text("".join(f"{a} {b}\n" for a, b in pairs.tolist()))
    return str(folder)


def test_the_bench_reports_both_rates_and_a_verdict_from_them(data: str) -> None:
    r = bench_fit(400, workers=2, runs=30, seed=3, data=data)
    assert r["available"] and r["benchmark"] == "fit" and r["agents"] == 400
    assert r["workers"] == 2 and r["cpu_count"] >= 1
    assert len(r["load_average"]["before"]) == 3 and len(r["load_average"]["after"]) == 3
    assert r["observed"]["columns"] == ["I", "R"] and r["steps"] == r["observed"]["last_tick"] + 1 == 40
    y, f = r["yardstick"], r["fit"]
    assert y["runs"] == 30 and len(y["seconds"]) == 2
    assert y["runs_per_second"] == pytest.approx(60 / sum(y["seconds"]), rel=0.01)
    assert 0 < f["simulations"] <= 400 and f["generations"] >= 1 and f["ess"] > 0 and f["failed"] == 0
    assert f["simulations_per_second"] == pytest.approx(f["simulations"] / f["seconds"], rel=0.01)
    assert r["ratio"] == pytest.approx(f["simulations_per_second"] / y["runs_per_second"], rel=0.02)
    for name, p in f["params"].items():
        assert p["truth"] == TRUTH[name]
        assert p["ci90"][0] <= p["median"] <= p["ci90"][1]
        assert p["truth_inside"] == (p["ci90"][0] <= p["truth"] <= p["ci90"][1])
    assert r["target"]["simulations"] == TARGET["simulations"] and r["target"]["seconds"] == TARGET["seconds"]
    assert r["verdict"] == verdict(f["simulations"], f["seconds"]) == "not met"  # 400 simulations < 20,000
    assert r["seconds_for_target_at_this_rate"] == pytest.approx(
        seconds_for_target(f["simulations"], f["seconds"]), abs=0.1
    )
    text = "\n".join(fit_lines(r))
    assert "runs/s" in text and "simulations/s" in text and "not met" in text


def test_the_verdict_follows_the_figures() -> None:
    assert verdict(20_000, 100.0) == "met"
    assert verdict(23_500, 120.0) == "met"
    assert verdict(20_000, 121.0) == "not met"
    assert verdict(19_999, 50.0) == "not met"  # fewer simulations than the target's, however fast
    assert verdict(0, 1.0) == "not met"


def test_a_missing_dataset_is_said_and_nothing_runs(tmp_path) -> None:
    r = bench_fit(data=str(tmp_path))
    assert r["available"] is False and DATASET in r["reason"]
    assert fit_lines(r) == [f"skipped: {r['reason']}"]


def test_the_command_parses_its_flags_and_prints_json(data: str, capsys) -> None:
    args = build_parser().parse_args(["bench", "fit"])
    assert (args.budget, args.workers, args.runs, args.seed, args.data, args.json) == (
        24_000,
        None,
        1000,
        1,
        None,
        False,
    )
    assert main(["bench", "fit", "--budget", "200", "--runs", "10", "--workers", "1", "--data", data, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fit"]["budget"] == 200 and r["yardstick"]["runs"] == 10 and r["workers"] == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "fit", "--budget", "0"])
