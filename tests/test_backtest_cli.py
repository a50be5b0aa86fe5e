"""``agora backtest`` as a user runs it (issue 61): real subprocesses of the command line, on a small world and a curve
Agora simulated on it. Every bad input is one sentence, exit 2, and the world file unchanged."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import agora, digest, one_sentence

#: The fit of every run here: small and quick (the numbers are tests/test_backtest.py's).
FIT = ["--model", "sir", "--param", "beta=0.005..0.1", "--param", "gamma=0.05..0.5", "--seeds", "random:5"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A world of 300 agents, a 40-tick curve of new cases per tick (sir on it), cascades without follower counts."""
    folder = tmp_path_factory.mktemp("backtest_cli")
    done = agora(folder, "new", "w.db", "--agents", "300", "--seed", "3")
    assert done.returncode == 0, done.stderr
    curve = [1, 2, 2, 3, 5, 6, 8, 9, 12, 14, 15, 15, 14, 12, 11, 9, 8, 7, 6, 5]
    curve += [4, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    (folder / "curve.csv").write_text("tick,new\n" + "".join(f"{t},{v}\n" for t, v in enumerate(curve)))
    (folder / "dated.csv").write_text(
        "date,cases\n" + "".join(f"2020-03-{d + 1:02d},{v}\n" for d, v in enumerate(curve[:31]))
    )
    (folder / "cascades.csv").write_text("id,parent,time\n1,,0\n2,1,5\n3,1,9\n4,2,30\n")
    (folder / "daily.csv").write_text("day,cases\n" + "".join(f"{d},{(d * 7) % 10}\n" for d in range(70)))
    (folder / "halves.csv").write_text("tick,new\n" + "".join(f"{t},{v}\n" for t, v in enumerate(curve[:9] + [2.5])))
    return folder


def _bad(folder, *args: str) -> str:
    """The sentence of a refused backtest, the world file unchanged."""
    before = digest(folder / "w.db")
    line = one_sentence(agora(folder, "backtest", "w.db", *args))
    assert digest(folder / "w.db") == before
    return line


@pytest.mark.slow  # some 15 commands
def test_every_bad_input_is_one_sentence_and_exit_2(made, tmp_path):
    bad = _bad
    obs = ["--observed", "curve.csv", *FIT, "--budget", "100"]
    assert "--cut -5 lies before the first observation (0) of curve.csv" in bad(made, *obs, "--cut", "-5")
    assert "--cut 50 lies after the last observation (39) of curve.csv" in bad(made, *obs, "--cut", "50")
    assert "--cut 39 is the last observation (39)" in bad(made, *obs, "--cut", "39")
    line = bad(made, *obs, "--cut", "35", "--horizon", "7")
    assert "--horizon 7 from cut 35 reaches past the last observation (39)" in line and "--until-done" in line
    dated = ["--observed", "dated.csv", "--tick", "1d", "--observe", "cases=new", *FIT, "--budget", "100"]
    assert "--cut 2020-02-01 lies before the first observation (2020-03-01)" in bad(made, *dated, "--cut", "2020-02-01")
    line = bad(made, "--observed", "cascades.csv", "--method", "seismic")
    assert "seismic predicts the final sizes of cascades" in line and "has no follower counts" in line
    assert "curve.csv is a series of counts per tick" in bad(made, *obs, "--method", "seismic")
    assert "needs the data's serial interval: give --serial-interval" in bad(made, *obs, "--method", "renewal")
    weekly = ["--observed", "daily.csv", "--tick", "7d", "--method", "persistence", "--horizon", "2"]
    line = bad(made, *weekly, "--cut", "10")
    assert "--cut 10 falls inside the tick from 7 of daily.csv" in line and "give a tick's last time (6 or 13)" in line
    done = agora(
        made, "backtest", "w.db", *weekly[:4], "--method", "renewal", "--serial-interval", "gamma:3,1.5", "--cut", "55",
        "--horizon", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr  # issue 73: renewal on weekly ticks (the interval spread over weeks)
    line = bad(made, *obs, "--draws", "100000", "--horizon", "200", "--until-done")
    assert "--draws 100,000 of --horizon 200 ticks make 20,000,000 forecast values a cut" in line
    assert "--replicates 3 would make each forecast a mean of runs" in bad(made, *obs, "--replicates", "3")
    line = bad(made, "--observed", "halves.csv", *FIT, "--budget", "100", "--cut", "5", "--horizon", "2")
    assert "new in halves.csv is not a whole number of 0 or more at 9" in line
    plan = tmp_path / "p.toml"
    plan.write_text('model = "sir"\n[world]\nagents = "three hundred"\n')
    assert "states [world] agents as something other than a whole number" in bad(made, "--plan", str(plan))
    plan.write_text(f'model = "sir"\nparam = ["beta=0.005..0.1", "zeta=0.1..0.5"]\nobserved = "{made / "curve.csv"}"\n')
    assert f"plan file {plan}: model 'sir' has no parameter 'zeta' to fit" in bad(made, "--plan", str(plan))
    plan.write_text('model = "sirx"\nparam = ["beta=0.005..0.1"]\n')
    assert "unknown model 'sirx'" in bad(made, "--plan", str(plan), "--observed", "curve.csv")
    plan.write_text('model = "sir"\nparam = ["beta=0.005..0.1"]\n[world]\nagents = 5000\n')
    line = bad(made, "--plan", str(plan), "--observed", "curve.csv")
    assert f"plan file {plan} states a world of 5,000 agents, and this world has 300" in line
    plan.write_text('model = "sir"\ntoken = = "hunter2"\n')
    line = bad(made, "--plan", str(plan))
    assert f"plan file {plan} is not TOML at line 2" in line and "hunter2" not in line  # never its content
    plan.write_text('model = "sir"\nparam = ["beta=0.005..0.1"]\n')
    line = bad(made, "--plan", str(plan), "--observed", "curve.csv", "--budget", "300")
    assert line.startswith(f"agora: error: --budget is set beside plan file {plan}, which fixes the forecast")


@pytest.mark.slow
def test_json_fields_progress_per_cut_and_the_plot(made):
    done = agora(
        made, "backtest", "w.db", "--observed", "curve.csv", *FIT, "--budget", "300", "--cuts", "3", "--horizon", "5",
        "--serial-interval", "gamma:4,2", "--json", "--plot", "bt.png", "--workers", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data["scores"]) == {"agora", "persistence", "renewal", "ensemble"} and data["reference"] == "persistence"
    for row in data["scores"].values():
        assert set(row) == {"horizon", "wis", "crps", "log_score", "cover50", "cover90", "ae_median", "ae_log",
                            "relative_wis", "cuts_scored", "all", "energy_score", "variogram_score",
                            "relative_energy_score", "relative_variogram_score", "coverage", "pit"}  # fmt: skip
        assert row["horizon"] == [1, 2, 3, 4, 5] and row["cuts_scored"] == [3] * 5
        assert list(row["coverage"]) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "0.95", "0.98"]
        assert len(row["pit"]) == 10 and sum(row["pit"]) == pytest.approx(1.0, abs=1e-5)  # each rounded to 1e-6
        assert row["coverage"]["0.5"] == pytest.approx(row["all"]["cover50"])  # the same truths, the same intervals
    assert [c["cut"] for c in data["cuts"]] == ["11", "23", "34"]  # round(i * (39 - 5) / 3)
    cut = data["cuts"][0]
    assert cut["truth"] == [14, 12, 11, 9, 8] and set(cut["forecasts"]["agora"]) == {"q05", "q25", "q50", "q75", "q95"}
    assert set(cut["path_scores"]["agora"]) == {"energy_score", "variogram_score"}
    assert data["scores"]["persistence"]["relative_energy_score"] == 1.0
    assert cut["fit"]["simulations"] <= 300 and data["plan"] is None and data["parallel"] is True
    assert data["figure"].endswith("bt.png") and (made / "bt.png").stat().st_size > 10_000
    lines = [x for x in done.stderr.splitlines() if x.startswith("agora: backtest: cut ")]
    assert len(lines) == 3 and {x.split(" (")[0] for x in lines} == {
        f"agora: backtest: cut {i} of 3" for i in (1, 2, 3)
    }


@pytest.mark.slow
def test_a_plan_run_names_its_hash_and_prints_the_table(made, tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(
        'model = "sir"\nparam = ["beta=0.005..0.1", "gamma=0.05..0.5"]\nseeds = "random:5"\nbudget = 200\n'
        f'observed = "{made / "curve.csv"}"\ncut = ["15", "25"]\nhorizon = 4\nmethod = ["agora"]\n'
        '[world]\nagents = 300\nwhy = "the world the test made"\n'
    )
    done = agora(made, "backtest", "w.db", "--plan", str(plan), "--workers", "1")
    assert done.returncode == 0, done.stderr
    sha = hashlib.sha256(plan.read_bytes()).hexdigest()
    assert f"plan: {plan} (sha256 {sha})" in done.stdout
    assert "rel. WIS" in done.stdout and "persistence" in done.stdout  # always scored: the reference
    assert "cuts: 15, 25" in done.stdout


@pytest.mark.slow
def test_bench_backtest_measures_both_ways_and_checks_they_agree(tmp_path):
    done = agora(tmp_path, "bench", "backtest", "--budget", "200", "--cuts", "2", "--agents", "300", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["benchmark"] == "backtest" and data["same_numbers"] is True and len(data["cuts"]) == 2
    assert data["parallel_seconds"] > 0 and data["sequential_seconds"] > 0 and data["speedup"] > 0
    assert data["parallel_cpu_seconds"] > 0 and data["target_seconds"] == 120.0
    assert set(data["relative_wis"]) == {"agora", "persistence", "ensemble"}
