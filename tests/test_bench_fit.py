"""``agora bench fit``: a small fit and its yardstick on a small stand-in for ego-Facebook (``sir``) or for the
Hagelloch table (``--model seir``, layered) report both rates, their ratio, where a simulation's time goes, the
posterior against the truth and a verdict computed from the figures; the flags parse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.bench.fit import CASES, DATASET, TARGET, TARGETS, TRUTH, bench_fit, fit_lines, seconds_for_target, verdict
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
    assert y["runs"] == 60 and y["runs_before_after"] == [30, 30] and len(y["seconds"]) == 2
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
    _check_per_simulation(r)
    text = "\n".join(fit_lines(r))
    assert "runs/s" in text and "simulations/s" in text and "not met" in text


def _check_per_simulation(r: dict) -> None:
    """Where a simulation's time goes: the parts add up and the fit's own seconds are split where it spent them."""
    per, f = r["per_simulation"], r["fit"]
    assert per["kernel"] == "batched" and per["sample"] > 0
    assert 0 < per["kernel_run_us"] < per["simulation_us"]
    assert per["chances_and_report_us"] == pytest.approx(per["simulation_us"] - per["kernel_run_us"], abs=0.2)
    assert per["summaries_us"] > 0 and "statistics" in per["summaries"]
    inside, outside = per["fit_generations_seconds"], per["fit_outside_generations_seconds"]
    assert inside + outside == pytest.approx(f["seconds"], abs=0.01)
    per_sim = per["fit_us_per_simulation"]
    assert per_sim == pytest.approx(1e6 * inside / f["simulations"], rel=0.01)
    assert per["fit_us_per_simulation_per_worker"] == pytest.approx(per_sim * r["workers"], rel=0.01)


@pytest.fixture(scope="module")
def hagelloch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder holding a ``hagelloch.csv`` of 80 children in Hagelloch's layout (``PN`` ids, ``HN`` houses,
    ``CL`` classes with ``preschool``), child 184 among them, on which the seir truth spreads."""
    folder = tmp_path_factory.mktemp("hagelloch")
    rng = np.random.default_rng(5)
    ids = [*range(101, 180), 184]
    rows = [
        f"{pn},{pn // 3},{'1st class' if pn == 184 else rng.choice(['1st class', '2nd class', 'preschool'])}"
        for pn in ids
    ]
    (folder / "hagelloch.csv").write_text("PN,HN,CL\n" + "\n".join(rows) + "\n")
    return str(folder)


@pytest.mark.slow
def test_the_seir_bench_fits_a_layered_world_beside_as_many_plain_runs(hagelloch: str) -> None:
    r = bench_fit(300, model="seir", workers=2, seed=2, data=hagelloch)
    case = CASES["seir"]
    assert r["available"] and r["model"] == "seir" and r["agents"] == 80 and r["seeds"] == "ids:184"
    assert set(r["layers"]) == {"household", "class"} and sum(r["layers"].values()) >= r["edges"]
    assert r["fixed"] == {"beta": 0.0} and set(r["priors"]) == {"beta@household", "beta@class", "sigma", "gamma"}
    assert r["steps"] == r["observed"]["last_tick"] + 1 <= case.steps and r["observed"]["reached"] > 5
    y, f = r["yardstick"], r["fit"]
    assert y["kernel"] == f["kernel"] == "batched" and "--model seir" in y["what"]
    # As many plain runs as the fit made simulations: half the budget before the fit, the rest after.
    assert y["runs_before_after"] == [150, f["simulations"] - 150] and y["runs"] == f["simulations"]
    assert y["runs_per_second"] == pytest.approx(y["runs"] / sum(y["seconds"]), rel=0.01)
    assert set(f["params"]) == set(case.truth) and f["failed"] == 0
    assert r["ratio"] == pytest.approx(f["simulations_per_second"] / y["runs_per_second"], rel=0.02)
    assert r["target"] == {**TARGETS["seir"], "text": r["target"]["text"]} and TARGETS["seir"]["seconds"] == 60
    assert r["verdict"] == verdict(f["simulations"], f["seconds"], TARGETS["seir"]) == "not met"
    _check_per_simulation(r)
    assert "Hagelloch" in fit_lines(r)[0]


def test_the_verdict_follows_the_figures() -> None:
    assert verdict(20_000, 100.0) == "met"
    assert verdict(23_500, 120.0) == "met"
    assert verdict(20_000, 121.0) == "not met"
    assert verdict(19_999, 50.0) == "not met"  # fewer simulations than the target's, however fast
    assert verdict(0, 1.0) == "not met"
    assert verdict(20_000, 61.0, TARGETS["seir"]) == "not met" and verdict(20_000, 59.0, TARGETS["seir"]) == "met"


@pytest.mark.parametrize("model", ["sir", "seir"])
def test_a_missing_dataset_is_said_and_nothing_runs(tmp_path, model) -> None:
    r = bench_fit(model=model, data=str(tmp_path))
    assert r["available"] is False and CASES[model].dataset in r["reason"]
    assert fit_lines(r) == [f"skipped: {r['reason']}"]


def test_the_command_parses_its_flags_and_prints_json(data: str, capsys) -> None:
    args = build_parser().parse_args(["bench", "fit"])
    assert (args.budget, args.model, args.workers, args.runs, args.seed, args.data, args.json) == (
        24_000,
        "sir",
        None,
        None,
        1,
        None,
        False,
    )
    assert build_parser().parse_args(["bench", "fit", "--model", "seir"]).model == "seir"
    assert main(["bench", "fit", "--budget", "200", "--runs", "10", "--workers", "1", "--data", data, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fit"]["budget"] == 200 and r["yardstick"]["runs_before_after"] == [10, 10] and r["workers"] == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "fit", "--budget", "0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "fit", "--model", "sis"])
