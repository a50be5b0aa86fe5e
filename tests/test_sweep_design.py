"""``agora sweep --design``: SALib's designs run as the sweep's arms, and the sensitivity indices they give.

- On independent cascade, ``p`` moves the reach and ``feed_weight`` (ignored without a content recommender)
  does not: its total index's interval holds 0, ``p``'s does not.
- A plugin written here whose reach is linear in its parameters, ``1 + round(200 * (3 x1 + x2))``: its Sobol'
  indices have a closed form, ``S_i = a_i^2 Var(x_i) / sum_j a_j^2 Var(x_j)`` (first-order = total for an
  additive model), and Morris's mu* is ``200 |a_i| (HI_i - LO_i)``.
- Mistakes are one sentence and exit code 2; a missing SALib names the extra to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sys
from pathlib import Path

import pytest
from conftest import agora

import sim
from sim.cli.main import main
from sim.engine.requests import Design, ParamRange, Sweep
from sim.errors import BadParameterError
from sim.runs.design import SALIB_HINT, MorrisIndex, SobolIndex

pytest.importorskip("SALib")

LINEAR = '''
import numpy as np
from sim.plugin import Param, PropagationModel, StepResult


class Linear(PropagationModel):
    """In its first round, the first round(200 * (3 x1 + x2)) agents not yet adopted adopt; then it ends."""

    name = "linear"
    params = {"x1": Param(float, 0.5, 0.0, 1.0), "x2": Param(float, 1.0, 0.0, 2.0), "k": Param(int, 1, 0, 10)}

    def step(self, ctx):
        if ctx.round > 1:
            return StepResult.nothing()
        count = round(200 * (3 * self.p["x1"] + self.p["x2"]))
        return StepResult(np.flatnonzero(ctx.state == 0)[:count].astype(np.int32), 1)

    def is_done(self, ctx):
        return ctx.round >= 1
'''

#: The linear model's coefficients (of the reach) and ranges.
A = {"x1": 3 * 200, "x2": 1 * 200}
RANGES = {"x1": (0.0, 1.0), "x2": (0.0, 2.0)}


def analytic_indices() -> dict[str, float]:
    """``a_i^2 Var(x_i) / sum_j a_j^2 Var(x_j)``, Var of a uniform on [lo, hi] being (hi - lo)^2 / 12."""
    parts = {k: A[k] ** 2 * (hi - lo) ** 2 / 12 for k, (lo, hi) in RANGES.items()}
    return {k: v / sum(parts.values()) for k, v in parts.items()}


def cli(*args: str) -> tuple[int, str, str]:
    """``agora ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def world_file(tmp_path_factory) -> Path:
    from sim.store.create import synthetic_world
    from sim.store.worldfile import save_world

    path = tmp_path_factory.mktemp("design") / "small.db"
    asyncio.run(save_world(synthetic_world("small", 2000, avg_degree=8, seed=7), str(path)))
    return path


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "linear.py").write_text(LINEAR)
    return folder


def linear_sweep(world_file: Path, plugin_dir: Path, design: str, **fields: object) -> sim.SweepResult:
    w = sim.open_world(str(world_file), plugins=[str(plugin_dir)])
    params = {k: f"{lo}..{hi}" for k, (lo, hi) in RANGES.items()}
    return w.sweep(
        design=design, model="linear", params=params, seeds="random:1", runs=1, workers=1, series=False, **fields
    )


# -- the request ------------------------------------------------------------------------------------------------
def test_ranges_and_designs_parse_as_the_command_line_writes_them():
    assert ParamRange.parse("p", "0.01..0.1") == ParamRange("p", 0.01, 0.1, False)
    assert ParamRange.parse("p", " 0.001 .. 0.1:log ") == ParamRange("p", 0.001, 0.1, True)
    assert ParamRange.parse("p", (0.001, 0.1, "log")) == ParamRange("p", 0.001, 0.1, True)
    req = Sweep.parse(
        {"design": "sobol:64", "params": {"p": "0.01..0.1", "feed_weight": "0..1", "trust_weighted": True}}
    )
    assert req.design is not None and [r.name for r in req.design.ranges] == ["p", "feed_weight"]
    assert dict(req.params) == {"trust_weighted": "true"} and req.design.measure == "reached"
    assert req.design.points == 64 * 4 and req.total_runs == 64 * 4 * 10
    assert Design.parse("morris:10", req.design.ranges).points == 30
    assert Design.parse("lhs:7", req.design.ranges).points == 7
    series = Sweep.parse({"design": "lhs:4", "params": {"p": "0..1"}, "measure": "series:I@10"})
    assert series.series and series.design is not None and series.design.series_at == ("I", 10)


# -- independent cascade: a parameter it ignores -------------------------------------------------------------
def test_ic_ignored_parameter_has_a_total_index_of_zero(world_file):
    """feed_weight changes nothing without a content recommender: with common random numbers every point
    that differs from another only in feed_weight has the same reach, so its indices are 0 and their
    intervals [0, 0]; p's total index is well away from 0."""
    res = sim.open_world(str(world_file)).sweep(
        design="sobol:64", params={"p": "0.01..0.1", "feed_weight": "0..1"}, runs=4, workers=2, series=False
    )
    assert res.design is not None and res.design.points == 256 and len(res) == 256 and res.failed == 0
    assert {r["kernel"] for r in res.to_dict()["results"]} == {"batched"}  # 1,024 runs: the compiled kernel
    p, fw = res.sensitivity["p"], res.sensitivity["feed_weight"]
    assert isinstance(p, SobolIndex) and isinstance(fw, SobolIndex)
    lo, hi = fw.ST_conf
    assert lo <= 0 <= hi, fw
    lo, hi = p.ST_conf
    assert lo > 0 and p.ST > 0.8, p
    assert p.ST > fw.ST and p.S1 > fw.S1
    # The JSON's numbers are the typed ones.
    data = res.to_dict()
    assert data["sensitivity"]["p"] == {"S1": p.S1, "S1_conf": list(p.S1_conf), "ST": p.ST, "ST_conf": list(p.ST_conf)}
    assert data["design"]["params"]["p"] == {"range": [0.01, 0.1], "scale": "uniform"}
    # Every point is an arm whose grid is the point and whose value is the mean reach of its runs.
    first = res.arms[0]
    assert set(first.grid) == {"p", "feed_weight"} and 0.01 <= first.grid["p"] <= 0.1
    assert res.design.values[0] == pytest.approx(first.mean_reached)
    assert res.design.inputs[0] == [first.grid["p"], first.grid["feed_weight"]]


# -- a model with a closed form -------------------------------------------------------------------------------
def test_sobol_indices_of_a_linear_model_match_the_closed_form(world_file, plugin_dir):
    res = linear_sweep(world_file, plugin_dir, "sobol:256", seed=3)
    assert res.failed == 0 and res.design is not None and res.design.points == 256 * 4
    exact = analytic_indices()  # x1: 9/13, x2: 4/13
    for name, want in exact.items():
        got = res.sensitivity[name]
        assert isinstance(got, SobolIndex)
        assert got.S1_conf[0] <= want <= got.S1_conf[1], (name, want, got)
        assert got.ST_conf[0] <= want <= got.ST_conf[1], (name, want, got)
        # Scrambled Sobol' points integrate a linear response almost exactly: the estimates are much closer
        # than the bootstrap's intervals (which resample the points as if they were independent) say.
        assert abs(got.S1 - want) < 0.02 and abs(got.ST - want) < 0.02
    x1, x2 = res.sensitivity["x1"], res.sensitivity["x2"]
    assert x1.S1 > x2.S1 and x1.ST > x2.ST
    # The reach is exactly the model's at every point (one seed, then the count).
    for arm, (v1, v2) in zip(res.arms, res.design.inputs):
        assert arm.mean_reached == 1 + round(200 * (3 * v1 + v2))


def test_morris_ranks_the_linear_model_by_slope_times_range(world_file, plugin_dir):
    res = linear_sweep(world_file, plugin_dir, "morris:10", seed=5)
    assert res.design is not None and res.design.points == 30
    x1, x2 = res.sensitivity["x1"], res.sensitivity["x2"]
    assert isinstance(x1, MorrisIndex) and isinstance(x2, MorrisIndex)
    # Each elementary effect is the reach's change over a step, per range fraction: a_i * (HI - LO).
    assert x1.mu_star == pytest.approx(A["x1"] * 1.0, abs=2) and x2.mu_star == pytest.approx(A["x2"] * 2.0, abs=2)
    assert x1.mu_star > x2.mu_star and x1.sigma < 2 and x2.sigma < 2
    again = linear_sweep(world_file, plugin_dir, "morris:10", seed=5)
    assert again.sensitivity == res.sensitivity and again.design.inputs == res.design.inputs  # seeded throughout


def test_a_series_measure_and_a_latin_hypercube(world_file, plugin_dir):
    """series:adopted@1 is the count after the first round; a tick after the run ended keeps the last value;
    a Latin hypercube reports its points and values and no indices; an integer parameter is rounded."""
    w = sim.open_world(str(world_file), plugins=[str(plugin_dir)])
    for tick in (1, 40):
        res = w.sweep(
            design="lhs:6",
            model="linear",
            params={"x1": "0..1", "x2": "0.1..2:log", "k": "0..10"},
            measure=f"series:adopted@{tick}",
            seeds="random:1",
            runs=2,
            workers=1,
        )
        assert res.sensitivity is None and res.to_dict()["sensitivity"] is None
        assert res.design is not None and res.design.params["x2"].scale == "log-uniform"
        for (x1, x2, k), value in zip(res.design.inputs, res.design.values):
            assert 0.1 <= x2 <= 2 and k == int(k)
            assert value == 1 + round(200 * (3 * x1 + x2))
    assert {a.grid["k"] for a in res.arms} <= set(range(11))


def test_a_failed_point_leaves_no_indices(world_file, plugin_dir):
    """A point whose every run fails has no value: the indices need every point, and the report says why."""
    failing = plugin_dir.parent / "failing"
    failing.mkdir(exist_ok=True)
    broken = '        if self.p["x1"] > 0.9:\n            raise ValueError("x1")\n        if ctx.round > 1:'
    (failing / "broken.py").write_text(
        LINEAR.replace('"linear"', '"broken"').replace("        if ctx.round > 1:", broken)
    )
    w = sim.open_world(str(world_file), plugins=[str(failing)])
    res = w.sweep(design="morris:4", model="broken", params={"x1": "0..1"}, seeds="random:1", runs=1, workers=1)
    assert res.failed > 0 and res.sensitivity is None
    assert res.design is not None and "have no value of reached" in res.design.no_indices


# -- the command line --------------------------------------------------------------------------------------------
def test_cli_json_has_the_design_and_the_indices(world_file):
    out = agora(
        world_file.parent,
        "sweep",
        str(world_file),
        "--design",
        "sobol:16",
        "--param",
        "p=0.01..0.1",
        "--param",
        "feed_weight=0..1",
        "--runs",
        "2",
        "--workers",
        "2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    design = data["design"]
    assert {"kind", "n", "points", "params", "measure", "values", "inputs"} <= set(design)
    assert (design["kind"], design["n"], design["points"], design["measure"]) == ("sobol", 16, 64, "reached")
    assert design["params"] == {
        "p": {"range": [0.01, 0.1], "scale": "uniform"},
        "feed_weight": {"range": [0.0, 1.0], "scale": "uniform"},
    }
    assert set(data["sensitivity"]) == {"p", "feed_weight"}
    for index in data["sensitivity"].values():
        assert set(index) == {"S1", "S1_conf", "ST", "ST_conf"} and len(index["ST_conf"]) == 2
    assert data["combinations"] == 64 and data["total_runs"] == 128 and len(data["results"]) == 64
    assert len(design["values"]) == 64 and all("paired" not in r for r in data["results"])


def test_cli_text_prints_the_indices(world_file):
    code, out, err = cli(
        "sweep", str(world_file), "--design", "morris:4", "--param", "p=0.01..0.1:log", "--runs", "2", "--workers", "1"
    )
    assert code == 0, err
    assert "Morris design (morris:4, 8 points) of ic" in out and "mu*" in out
    assert "0.01 .. 0.1 log" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--design", "sobol:16", "--param", "p=0.1..0.01"], "the range p=0.1..0.01 is empty"),
        (["--design", "sobol:16", "--param", "p=0.01..0.01"], "is empty"),
        (["--design", "sobol:16", "--param", "p=a..0.1"], "'a', which is not a number"),
        (["--design", "sobol:16", "--param", "p=0..0.1:log"], "a log-uniform range must start above 0"),
        (["--design", "sobol:16", "--param", "q=0..1"], "ic has no parameter 'q'"),
        (["--design", "sobol:16", "--param", "p=0..1", "--grid", "feed_weight=1,2"], "give one of them"),
        (["--design", "sobol:1", "--param", "p=0..0.1"], "from 2 to"),
        (["--design", "sobol:0", "--param", "p=0..0.1"], "from 2 to"),
        (["--design", "lhs:99999999", "--param", "p=0..0.1"], "from 2 to"),
        (["--design", "foo:16", "--param", "p=0..0.1"], "design kind 'foo' is unknown"),
        (["--design", "sobol", "--param", "p=0..0.1"], "is not KIND:N"),
        (["--design", "sobol:16", "--param", "p=0..0.1", "--measure", "nope"], "measure 'nope' is unknown: choose"),
        (["--design", "sobol:16", "--param", "p=0..1", "--measure", "series:Q@3"], "ic's series has no 'Q'"),
        (["--design", "sobol:16", "--param", "p=0..2"], "the range p=0..2 goes beyond ic's p"),
        (["--design", "sobol:16", "--param", "trust_weighted=0..1"], "a design draws only numbers"),
        (["--design", "sobol:16", "--param", "p=0.1"], "has no parameter to vary"),
        (["--param", "p=0..1"], "is a range: give --design=sobol:N"),
        (["--measure", "reached"], "give a design too"),
    ],
)
def test_mistakes_are_one_sentence_and_exit_2(world_file, args, needle):
    code, out, err = cli("sweep", str(world_file), "--runs", "2", *args)
    assert code == 2 and out == "", err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: ") and needle in lines[0], err
    assert "Traceback" not in err


def test_missing_salib_is_one_sentence(world_file, monkeypatch):
    for name in [m for m in sys.modules if m == "SALib" or m.startswith("SALib.")] + ["SALib"]:
        monkeypatch.setitem(sys.modules, name, None)  # "import SALib..." fails as if it were not installed
    code, out, err = cli("sweep", str(world_file), "--design", "sobol:16", "--param", "p=0..0.1", "--runs", "2")
    assert (code, out) == (2, "") and err == f"agora: error: --{SALIB_HINT}\n"
    assert SALIB_HINT == "design needs the optional extra: pip install 'agora-sim[fit]'"  # a field, not a flag
    with pytest.raises(BadParameterError, match=r"pip install 'agora-sim\[fit\]'"):
        sim.open_world(str(world_file)).sweep(design="lhs:4", params={"p": "0..0.1"}, runs=1, workers=1)


def test_a_measure_that_never_varies_has_no_sobol_indices(world_file, plugin_dir):
    """k changes nothing in the linear model: the reach is the same at every point, every share of a zero
    variance is 0/0, and the report says so rather than printing NaN."""
    w = sim.open_world(str(world_file), plugins=[str(plugin_dir)])
    res = w.sweep(design="sobol:4", model="linear", params={"k": "0..10"}, seeds="random:1", runs=1, workers=1)
    assert res.sensitivity == {"k": SobolIndex("k", None, (None, None), None, (None, None))}
    assert res.design is not None and "is the same at every point" in res.design.no_indices
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["sensitivity"]["k"]["ST"] is None
