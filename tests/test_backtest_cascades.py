"""Backtests of cascades' final sizes (issue 61): SEISMIC, no growth and Agora's forecast at ages since each
original post, on cascades Agora simulated (``ic`` with reshare times from SEISMIC's kernel) and on small files
worked out by hand. The scores are checked against their definitions computed here one cascade at a time."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import agora, digest, one_sentence
from seismic_cascades import edge_target_degree, simulate

import sim
from sim.analysis.scores import wis
from sim.analysis.seismic import estimate
from sim.errors import BadFileError, BadParameterError
from sim.runs.backtest.cascades import read_cascades, write_cascades

#: The IC's edge probability: p n_star about 0.68 on the world below (subcritical).
P = 0.012


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A 3,000-agent world (community graph, 20 follow links each on average) and 160 IC cascades from its 4 most
    followed agents, as a cascade file."""
    folder = tmp_path_factory.mktemp("backtest_cascades")
    sim.new_world(folder / "w.db", agents=3000, graph="community", avg_degree=20, seed=1)
    world = sim.open_world(folder / "w.db")
    top = world.agents.ids[np.argsort(-np.diff(world.graph.indptr), kind="stable")[:4]]
    cascades = []
    for i, agent in enumerate(top.tolist()):
        cascades += simulate(world, P, 40, seed=100 * i, seeds=f"ids:{agent}", workers=1)
    write_cascades(cascades, str(folder / "cascades.csv"))
    return folder, world, edge_target_degree(world)


def test_a_cascade_file_reads_as_times_since_each_original_post(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "cascade,id,parent,time,followers\n"
        "b,7,,2026-01-05T10:00:00,40\n"
        "a,3,5,2026-01-01T00:10:00,2\n"
        "a,5,,2026-01-01T00:00:00,100\n"
        "b,5,7,2026-01-25T10:00:01,100\n"  # author 5 in a second cascade, 20 days after its original post
        "a,9,3,2026-01-01T00:10:00,8\n"  # at its parent's second
        "a,4,5,2026-01-01T00:00:30,0\n"
    )
    read = read_cascades(str(path))
    assert len(read.cascades) == 2
    b, a = read.cascades  # in the order of their original posts' rows
    assert a.agents.tolist() == ["5", "4", "3", "9"] and a.parents.tolist() == ["", "5", "5", "3"]
    assert a.times.tolist() == [0.0, 30.0, 600.0, 600.0] and a.followers.tolist() == [100.0, 0.0, 2.0, 8.0]
    assert a.final == 3
    assert b.times.tolist() == [0.0, 20 * 86400 + 1.0] and b.final == 1 and b.agents.tolist() == ["7", "5"]
    assert [t.tolist() for t in a.upto(30)] == [[0.0, 30.0], [100.0, 0.0]]
    plain = tmp_path / "p.csv"  # no cascade column: each original post starts one; whole numbers are seconds
    plain.write_text("id,parent,time,followers\n1,,0,10\n2,1,50,3\n3,,20,4\n4,3,25,1\n5,2,400,0\n")
    one, two = read_cascades(str(plain)).cascades
    assert one.times.tolist() == [0.0, 50.0, 400.0] and two.times.tolist() == [0.0, 5.0]


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ("id,parent,time\n1,,0\n", "has no column 'followers'"),
        ("id,parent,time,followers\n1,,0,10\n2,1,5,x\n", "line 3: its follower count is not a whole number"),
        ("id,parent,time,followers\n1,,0,10\n2,8,5,1\n", "line 3: its parent has no row in its cascade"),
        ("id,parent,time,followers\n1,,10,10\n2,1,5,1\n", "line 3: its time comes before its parent's (line 2)"),
        ("id,parent,time,followers\n0,,0,1\n1,2,5,10\n2,1,5,1\n", "has a cycle of parents"),
        ("id,parent,time,followers\n1,,0,10\n1,,5,1\n", "lines 2 and 3 have the same id in one cascade"),
    ],
)
def test_a_bad_cascade_file_is_one_sentence(tmp_path, rows, says):
    path = tmp_path / "bad.csv"
    path.write_text(rows)
    with pytest.raises(BadFileError) as caught:
        read_cascades(str(path))
    assert says in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_seismic_and_no_growth_score_as_their_definitions(made):
    folder, world, n_star = made
    result = world.backtest(
        observed=str(folder / "cascades.csv"), method="seismic,persistence", cut="1h,6h,1d", n_star=n_star
    )
    cascades = read_cascades(str(folder / "cascades.csv")).cascades
    assert result.kind == "cascades" and [c.age for c in result.cuts] == [3600, 21600, 86400]
    for cut in result.cuts:
        chosen = [c for c in cascades if np.searchsorted(c.times, cut.age, side="right") - 1 >= 5]
        assert cut.truth.tolist() == [c.final for c in chosen] and len(chosen) >= 20
        seen = np.array([np.searchsorted(c.times, cut.age, side="right") - 1 for c in chosen], dtype=float)
        truth = cut.truth
        est = [estimate(c.times, c.followers, cut.age, n_star) for c in chosen]
        size = np.array([e.size for e in est])
        low, high = np.array([e.size_low for e in est]), np.array([e.size_high for e in est])
        s = cut.scores["seismic"]
        assert s["infinite"] == pytest.approx(float(np.mean(~np.isfinite(size))))
        assert s["coverage"] == pytest.approx(float(np.mean((low <= truth) & (truth <= high))))
        rel = np.where(np.isfinite(size), np.abs(size - truth) / truth, np.inf)
        median = float(np.median(rel))
        assert s["relative_error_median"] == (pytest.approx(median, abs=1e-6) if math.isfinite(median) else None)
        w = [
            float(wis([lo, m, hi], [0.025, 0.5, 0.975], y)) if math.isfinite(hi) and math.isfinite(m) else math.inf
            for lo, m, hi, y in zip(low, size, high, truth)
        ]
        assert s["wis_median"] == (pytest.approx(float(np.median(w)), abs=1e-6) if np.median(w) < math.inf else None)
        assert s["crps"] is None and s["log_score"] is None and s["interval"] == 0.95
        p = cut.scores["persistence"]
        assert p["wis"] == pytest.approx(float(np.abs(truth - seen).mean()), abs=1e-6)
        assert p["crps"] == p["wis"] and p["log_score"] is None and p["relative_wis"] == 1.0


@pytest.mark.slow
def test_agoras_forecast_adds_simulated_growth_and_is_calibrated_on_its_own_model(made):
    folder, world, _ = made
    ask = {"observed": str(folder / "cascades.csv"), "method": "agora", "params": [f"p={P}"], "budget": 800}
    first = world.backtest(**ask, cut="6h,1d", workers=1)
    again = world.backtest(**ask, cut="6h,1d", workers=1)
    assert first.methods == ["agora", "persistence"]
    for one, two in zip(first.cuts, again.cuts):
        assert one.scores == two.scores  # every draw follows from the fit's seed
        assert (one.medians["agora"] >= one.seen).all()  # the reshares seen plus a simulation's growth
        agora_scores = one.scores["agora"]
        # cascades of the model the forecast simulates, with the true p: its 90 % intervals hold about 90 % of them
        assert 0.75 <= agora_scores["coverage"] <= 1.0, agora_scores
        assert agora_scores["relative_wis"] < 1.0  # better than no growth on cascades still growing
    with pytest.raises(BadParameterError, match=r"n_star, a new resharer's mean follower count .* above 0, not '-1'"):
        world.backtest(**ask, n_star=-1)
    data = json.loads(json.dumps(first.to_dict()))
    assert data["target"] == "final_size" and data["scores"]["agora"][0]["interval"] == 0.9


@pytest.mark.slow
def test_cli_table_json_and_refusals(made):
    folder, _, _ = made
    args = ["--observed", "cascades.csv", "--method", "seismic", "--json", "--plot", "c.png"]
    done = agora(folder, "backtest", "w.db", *args)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["figure"] == str(folder / "c.png") and (folder / "c.png").stat().st_size > 10_000
    assert [c["cut"] for c in data["cuts"]] == ["1h", "6h", "1d"] and data["n_star"] == 100.0
    assert set(data["scores"]) == {"seismic", "persistence"} and "scored" in done.stderr
    table = agora(folder, "backtest", "w.db", "--observed", "cascades.csv", "--method", "seismic", "--cut", "2h")
    assert "final sizes of the 160 cascades" in table.stdout and "seismic" in table.stdout

    def bad(*args: str) -> str:
        before = digest(folder / "w.db")
        line = one_sentence(agora(folder, "backtest", "w.db", "--observed", "cascades.csv", *args))
        assert digest(folder / "w.db") == before
        return line

    assert "give a cascade's age at the cut as seconds (3600) or a duration" in bad("--cut", "1d5")
    assert "--cut 1h and 3600 are one age: give each age once" in bad("--method", "seismic", "--cut", "1h,3600")
    assert "cascades are cut at ages since each original post" in bad("--cuts", "3")
    assert "method renewal forecasts a series" in bad("--method", "renewal", "--serial-interval", "gamma:3,1")
    zero = agora(folder, "backtest", "w.db", "--observed", "cascades.csv", "--n-star", "0")
    assert zero.returncode == 2 and "--n-star: '0' must be a finite number above 0" in zero.stderr
    posts = "".join(f"{i},999999,{i},1\n" for i in range(1, 8))
    (folder / "elsewhere.csv").write_text("id,parent,time,followers\n999999,,0,10\n" + posts)
    line = bad("--observed", "elsewhere.csv", "--method", "agora")
    assert "1 of the 1 original posters in observation file elsewhere.csv are no agents of this world" in line
    (folder / "digits.csv").write_text("id,parent,time,followers\n\u00b2,,0,10\n" + posts.replace("999999", "\u00b2"))
    line = bad("--observed", "digits.csv", "--method", "agora")
    assert "1 of the 1 original posters in observation file digits.csv are no agents" in line and "\u00b2" not in line
    line = bad("--method", "agora", "--budget", "100")
    assert "at least 100 cascades from each of the 4 original posters" in line and "--budget is 100" in line
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.read_csv(folder / "cascades.csv", dtype={"parent": str}).to_parquet(folder / "cascades.parquet")
    done = agora(folder, "backtest", "w.db", "--observed", "cascades.parquet", "--method", "seismic", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scores"]["seismic"] == data["scores"]["seismic"]  # the same cascades


BOOM = '''
from sim.plugin import Param, PropagationModel


class Boom(PropagationModel):
    """A cascade model whose every step raises."""

    name = "boom"
    params = {"p": Param(float, 0.1, 0.0, 1.0, "probability per edge")}

    def step(self, ctx):
        raise RuntimeError("boom in step")
'''


@pytest.mark.slow
def test_a_model_plugin_that_raises_stops_the_cascade_backtest_with_its_traceback(made):
    folder, _, _ = made
    (folder / "plugins").mkdir(exist_ok=True)
    (folder / "plugins" / "boom.py").write_text(BOOM)
    before = digest(folder / "w.db")
    ask = ["--observed", "cascades.csv", "--method", "agora", "--model", "boom", "--param", "p=0.01", "--budget", "400"]
    done = agora(folder, "backtest", "w.db", "--plugins", "plugins", *ask, "--cut", "1d", "--json")
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""  # no result is made of the runs that did not fail
    line = next(x for x in done.stderr.splitlines() if x.startswith("agora: backtest: ") and "failed" in x)
    assert "runs of boom failed: RuntimeError: boom in step; no forecast was made" in line
    assert 'boom.py", line' in done.stderr and "raise RuntimeError" in done.stderr  # for the plugin's author
    assert digest(folder / "w.db") == before
