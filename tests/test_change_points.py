"""Transmission that changes in time (issue 75): change points of a per-edge parameter, ``beta~ROUND=X`` (the
whole parameter times X from round ROUND on) and ``beta@LAYER~ROUND=X`` (one layer's), on the engine and the
compiled kernels (:mod:`sim.plugin.schedule`).

1. **Seed for seed.** A batched run with change points is the engine's run of the same seed, every field of its
   report: a world of one layer (one threshold a segment), a layered world (a table a segment), trust weights
   and measured attributes (an edge's own chance a segment), ``sir`` and ``seir``, both ways the kernel reads
   its edges.
2. **Exact properties.** ``beta~R=0`` infects nobody from round R on; a multiplier of 1 is the run without it;
   a layer closed from round 1 is the layer's rate 0; a value scaled past 1 is capped at 1 (the chance of
   ``beta=1``).
3. **A fit recovers a change point** from a run it did not see: its 90 % interval holds the multiplier.
4. **Bad input**: a change point of a parameter that is not per edge, a multiplier out of range, a round past
   the bound: one sentence; ``ic``'s kernel does not read change points and says so.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from conftest import agora, one_sentence
from test_kernel_layers import _same_runs, measured, reads, village  # noqa: F401 - reads: a fixture

from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.plugin.schedule import schedule_of, split_time
from sim.runs.runner import run_cascades
from sim.store.calendar import read_calendar
from sim.store.create import synthetic_world

REGISTRY = Registry([])


@pytest.fixture(scope="module")
def worlds():
    plain = village()
    return {"layered": plain, "measured": measured(plain), "one": synthetic_world("plain", 300, avg_degree=6, seed=3)}


def _run(world, **kw):
    base = {"registry": REGISTRY, "text": "m", "seeds": "random:3", "seed": 11, "until_done": True, "runs": 6}
    return asyncio.run(run_cascades(world, **{**base, **kw}))


LAYERED = {"beta": 0.2, "beta@household": 0.35, "beta@class": 0.1, "gamma": 0.2}
CLOSED = {"beta@class~3": 0.0, "beta@class~6": 4.0}  # closed from round 3, reopened four times as catching (capped)


@pytest.mark.parametrize(
    ("where", "model", "params"),
    [
        ("one", "sir", {"beta": 0.3, "gamma": 0.2, "beta~3": 0.2, "beta~7": 1.5}),
        ("one", "seir", {"beta": 0.35, "sigma": 0.4, "gamma": 0.2, "beta~4": 0.1, "trust_weighted": True}),
        ("layered", "sir", {**LAYERED, **CLOSED}),
        ("layered", "seir", {**LAYERED, "sigma": 0.5, "beta~2": 0.5, **CLOSED}),
        ("measured", "sir", {**LAYERED, "trust_weighted": True, "beta~5": 0.3, **CLOSED}),
    ],
)
@pytest.mark.usefixtures("reads")
def test_a_run_with_change_points_is_the_engines_run_of_the_same_seed(worlds, where, model, params):
    kw = {"model": model, "params": params}
    got = _run(worlds[where], kernel="batched", **kw)
    _same_runs(got, _run(worlds[where], kernel="engine", **kw))
    assert len({r["reached"] for r in got["runs"]}) > 1  # the runs differ: the comparison tests something
    plain = _run(worlds[where], kernel="batched", model=model, params={k: v for k, v in params.items() if "~" not in k})
    assert [r["reached"] for r in plain["runs"]] != [r["reached"] for r in got["runs"]]  # the changes changed runs


def _new(run: dict) -> list[int]:
    return list(run["series"]["new"])


@pytest.mark.parametrize("kernel", ["batched", "engine"])
def test_a_multiplier_of_zero_infects_nobody_from_its_round(worlds, kernel):
    got = _run(worlds["one"], kernel=kernel, model="sir", params={"beta": 0.4, "gamma": 0.1, "beta~4": 0.0})
    for run in got["runs"]:
        new = _new(run)
        assert sum(new[:4]) > 3 and sum(new[4:]) == 0, new
    one = _run(worlds["one"], kernel=kernel, model="sir", params={"beta": 0.4, "gamma": 0.1, "beta~4": 1.0})
    none = _run(worlds["one"], kernel=kernel, model="sir", params={"beta": 0.4, "gamma": 0.1})
    assert [r["series"] for r in one["runs"]] == [r["series"] for r in none["runs"]]


def test_a_layer_closed_from_the_first_round_is_its_rate_zero_and_a_capped_value_is_one(worlds):
    w = worlds["layered"]
    closed = _run(w, kernel="batched", model="sir", params={**LAYERED, "beta@class~1": 0.0})
    zero = _run(w, kernel="batched", model="sir", params={**LAYERED, "beta@class": 0.0})
    assert [r["series"] for r in closed["runs"]] == [r["series"] for r in zero["runs"]]
    over = _run(w, kernel="engine", model="sir", params={**LAYERED, "beta~1": 100.0})
    sure = {**LAYERED, "beta": 1.0, "beta@household": 1.0, "beta@class": 1.0}
    sure = _run(w, kernel="engine", model="sir", params=sure)
    assert [r["series"] for r in over["runs"]] == [r["series"] for r in sure["runs"]]


def test_the_schedule_holds_each_multiplier_until_the_next_of_its_key():
    s = schedule_of({"beta": 0.1, "beta~5": 0.5, "beta@school~3": 0.0, "beta@school~8": 1.0, "beta~12": 2.0}, "beta")
    assert s is not None and s.rounds == (3, 5, 8, 12)
    assert s.whole == (1.0, 1.0, 0.5, 0.5, 2.0) and s.layers["school"] == (1.0, 0.0, 0.0, 1.0, 1.0)
    assert [s.segment(d) for d in (0, 2, 3, 4, 5, 11, 12, 99)] == [0, 0, 1, 1, 2, 3, 4, 4]
    assert split_time("beta@school~22") == ("beta@school", 22) and split_time("beta") == ("beta", None)
    assert schedule_of({"beta": 0.1, "gamma": 0.2}, "beta") is None


@pytest.fixture(scope="module")
def curve(tmp_path_factory):
    """A run of sir whose beta falls to 0.4 of itself at day 20 (an intervention), written as daily cases."""
    path = tmp_path_factory.mktemp("change")
    assert agora(path, "new", "w.db", "--agents", "3000", "--seed", "2").returncode == 0
    truth = ("--param", "beta=0.07", "--param", "gamma=0.15", "--param", "beta~20=0.4")
    out = agora(
        path, "run", "w.db", "--until-done", "--inject", "m", "--model", "sir", *truth, "--seeds", "random:5",
        "--seed", "3", "--series", "s.csv",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [row.split(",") for row in (path / "s.csv").read_text().splitlines()[1:]]
    new = [(int(t), int(v)) for _, t, m, v in lines if m == "new"]
    (path / "c.csv").write_text("day,cases\n" + "".join(f"{t},{v}\n" for t, v in new))
    return path


def test_a_fit_recovers_the_change_points_multiplier(curve):
    out = agora(
        curve, "fit", "w.db", "--observed", "c.csv", "--observe", "cases=new", "--model", "sir",
        "--param", "beta=0.02..0.3", "--param", "gamma=0.15", "--param", "beta~20=0.05..1.5", "--seeds", "random:5",
        "--budget", "3000", "--workers", "1", "--seed", "1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    params = json.loads(out.stdout)["params"]
    lo, hi = params["beta~20"]["ci90"]
    assert lo <= 0.4 <= hi and hi - lo < 1.0, params["beta~20"]  # narrower than the prior: the data speak
    lo, hi = params["beta"]["ci90"]
    assert lo <= 0.07 <= hi


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"gamma~3": 0.5}, "parameter gamma takes one value for every agent, not a change in time"),
        ({"beta~3": -1.0}, "beta~3"),
        ({"beta~3": 2000.0}, "beta~3"),
        ({"beta~2000000": 1.0}, "a change point's round is from 0 to 1,000,000"),
    ],
)
def test_bad_change_points_are_one_sentence(params, said):
    with pytest.raises(BadParameterError, match=said) as err:
        REGISTRY.model("sir").validate(params)
    assert "\n" not in str(err.value)


def test_ic_with_change_points_runs_on_the_engine_and_says_why(worlds):
    with pytest.raises(BadParameterError, match="ic with change points in time runs on the engine"):
        _run(worlds["one"], kernel="batched", model="ic", params={"p": 0.2, "p~3": 0.5})
    auto = _run(worlds["one"], kernel="auto", model="ic", params={"p": 0.2, "p~3": 0.5}, runs=200)
    assert auto["kernel"] == "engine"


def test_a_calendar_file_is_its_change_points(tmp_path):
    rows = "school,22,30,0\nschool,30,35,2\nhousehold,40,,2\n,50,60,0.5\n"
    (tmp_path / "cal.csv").write_text("layer,from,to,factor\n" + rows)
    assert read_calendar(str(tmp_path / "cal.csv")) == {
        "beta~50": 0.5, "beta~60": 1.0, "beta@household~40": 2.0,
        "beta@school~22": 0.0, "beta@school~30": 2.0, "beta@school~35": 1.0,
    }  # fmt: skip
    (tmp_path / "p.csv").write_text("param,layer,from,to,factor\np,,3,,0.25\n")
    assert read_calendar(str(tmp_path / "p.csv")) == {"p~3": 0.25}


def test_a_run_with_a_calendar_is_the_run_with_its_parameters(curve):
    (curve / "cal.csv").write_text("layer,from,to,factor\n,6,12,0.2\n")
    runs = []
    for extra in (("--calendar", "cal.csv"), ("--param", "beta~6=0.2", "--param", "beta~12=1")):
        out = agora(
            curve, "run", "w.db", "--until-done", "--inject", "m", "--model", "sir", "--param", "beta=0.1",
            "--seeds", "random:5", "--runs", "3", "--json", *extra,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        runs.append((data["params"], [{k: v for k, v in r.items() if k != "seconds"} for r in data["runs"]]))
    assert runs[0] == runs[1] and runs[0][0]["beta~12"] == 1.0


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("layer,frm,to,factor\n", "calendar cal.csv has no column 'from'"),
        ("layer,from,to,factor\nschool,4,9,0.1\nschool,8,,1\n", "rows 2 and 3 overlap for beta@school"),
        ("layer,from,to,factor\nschool,9,4,0.1\n", "row 2: to \\(4\\) must come after from \\(9\\)"),
        ("layer,from,to,factor\nschool,x,,0.1\n", "row 2: from 'x' is not a round"),
        ("layer,from,to,factor\nschool,1,,-2\n", "row 2: factor '-2' is not a number from 0 to 1,000"),
        ("layer,from,to,factor\nschool,1,,2\n", "beta@school: this world has no contact layers"),
    ],
)
def test_a_bad_calendar_is_one_sentence_and_runs_nothing(curve, text, said):
    (curve / "cal.csv").write_text(text)
    out = agora(curve, "run", "w.db", "--until-done", "--inject", "m", "--model", "sir", "--calendar", "cal.csv")
    assert re.search(said, one_sentence(out)), out.stderr
