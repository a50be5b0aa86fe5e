"""The epidemic's start, fitted (issue 75; :mod:`sim.runs.fit.start`): ``start`` rounds run before the observation's
first tick, fixed (``--param start=5``) or fitted (``--param start=0..30``).

1. **Exact shift.** A particle with ``start = s`` is the run made ``s`` rounds longer and read from round ``s``:
   its series equals the plain run's from round ``s``, every measure; change points and importations, named in the
   observation's ticks, move with it; a particle filter's branch at a tick branches the run at that tick.
2. **A fit recovers it** from a run it did not see, whose first ticks were cut off.
3. **On real data** the particle filter no longer collapses on the Pennsylvania school's second day (a case on day
   1, which no run seeded at day 0 can make) once the start is fitted.
4. **How many seeds**, fixed (``--param seeds=8``) or fitted (``--param seeds=1..20``): a particle's run is the
   run of the selection with that count (``random:8``), on the kernel and the engine, and a fit recovers it.
5. **Bad input**: a start below 0, above the bound or not whole, a count of seeds below 1, past the agents or of a
   selection that names its agents is one sentence.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import agora, data_file, one_sentence

from sim.engine.requests import split_params
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs.epidemic_kernels import NO_RESEEDS
from sim.runs.fit.simulate import Simulator
from sim.store.create import synthetic_world

REGISTRY = Registry([])


@pytest.fixture(scope="module")
def world():
    return synthetic_world("start", 2000, avg_degree=6, seed=7)


def _sim(world, texts, steps=20, kernel="batched", seeds="random:3", **kw):
    priors, fixed = split_params(texts)
    return Simulator(
        world, REGISTRY, model="seir", priors=priors, fixed=fixed, seeds=seeds, steps=steps, max_ticks=200,
        kernel=kernel, **kw,
    )  # fmt: skip


BASE = ["beta=0.08", "sigma=0.4", "gamma=0.2"]


@pytest.mark.parametrize("kernel", ["batched", "engine"])
def test_a_start_is_the_longer_run_read_from_its_round(world, kernel):
    s = 6
    late = _sim(world, [*BASE, f"start={s}", "beta~4=0.5"], kernel=kernel)
    long = _sim(world, [*BASE, f"beta~{4 + s}=0.5"], steps=20 + s, kernel=kernel)
    for seed in range(4):
        (got,) = late.runs(np.zeros(0), seed)
        (want,) = long.runs(np.zeros(0), seed)
        assert got["series"]["tick"] == list(range(20))
        for key, values in want["series"].items():
            if key != "tick":
                assert got["series"][key] == values[s : s + 20], key
        assert sum(want["series"]["new"][:s]) > 0  # the rounds before tick 0 did something: the shift is tested


def test_a_fitted_start_is_each_particles_own(world):
    sim = _sim(world, [*BASE, "start=0..9"])
    assert sim.max_start == 9
    for s in (0, 3, 9):
        (got,) = sim.runs(np.array([float(s)]), 2)
        (fixed,) = _sim(world, [*BASE, f"start={s}"]).runs(np.zeros(0), 2)
        assert got["series"] == fixed["series"]


def test_imports_and_a_filters_branch_move_with_the_start(world):
    counts = np.array([0, 0, 0, 4, 0, 0, 2], dtype=np.int64)
    for s in (0, 5):
        sim = _sim(world, [*BASE, f"start={s}"])
        sim.importing(counts)
        (run,) = sim.true_runs(np.zeros(0), 1)
        assert run["series"]["imported"][: counts.size] == counts.tolist()  # at their ticks, whatever the start
    sim = _sim(world, [*BASE, "start=5"])
    (plain,) = sim.true_runs(np.zeros(0), 3, NO_RESEEDS)
    branch = np.array([[8, 1, 2, 3, 5]], dtype=np.uint64)  # fresh draws from the start of tick 8
    (branched,) = sim.true_runs(np.zeros(0), 3, branch)
    for key in ("new", "I", "E"):
        assert branched["series"][key][:8] == plain["series"][key][:8], key
    assert branched["series"]["new"][8:] != plain["series"]["new"][8:]


def _onsets(path, seeds: str, cut: int, steps: int) -> None:
    """``c.csv`` in ``path``: the daily onsets of a seir run (beta 0.06, sigma 0.3, gamma 0.2) on 3,000 agents from
    ``seeds``, its first ``cut`` days left out (day ``cut`` is the file's 0)."""
    assert agora(path, "new", "w.db", "--agents", "3000", "--seed", "2").returncode == 0
    out = agora(
        path, "run", "w.db", "--steps", str(steps), "--runs", "1", "--inject", "m", "--model", "seir", "--param",
        "beta=0.06", "--param", "sigma=0.3", "--param", "gamma=0.2", "--seeds", seeds, "--seed", "4", "--series",
        "s.csv",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [row.split(",") for row in (path / "s.csv").read_text().splitlines()[1:]]
    onsets = [(int(t), int(v)) for _, t, m, v in lines if m == "onsets"]
    (path / "c.csv").write_text("day,cases\n" + "".join(f"{t - cut},{v}\n" for t, v in onsets if t >= cut))


@pytest.fixture(scope="module")
def late_curve(tmp_path_factory):
    """Daily onsets of a seir run whose first 10 days are cut off: the data begin mid-epidemic."""
    path = tmp_path_factory.mktemp("start")
    _onsets(path, "random:3", 10, 60)
    return path


def _fitted(path, prior: str, seeds: str, budget: int) -> dict:
    """The posterior of ``agora fit`` of ``c.csv``'s onsets by seir (beta fitted, sigma and gamma the truth's) with
    ``prior`` beside beta."""
    out = agora(
        path, "fit", "w.db", "--observed", "c.csv", "--observe", "cases=onsets", "--model", "seir",
        "--param", "beta=0.02..0.2", "--param", "sigma=0.3", "--param", "gamma=0.2", "--param", prior,
        "--seeds", seeds, "--budget", str(budget), "--workers", "1", "--seed", "1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["params"]


def test_a_fit_recovers_the_start_of_a_curve_cut_short(late_curve):
    params = _fitted(late_curve, "start=0..25", "random:3", 3000)
    lo, hi = params["start"]["ci90"]
    assert lo <= 10 <= hi and hi - lo < 20, params["start"]  # the data speak: narrower than the prior's 25
    lo, hi = params["beta"]["ci90"]
    assert lo <= 0.06 <= hi


def test_the_filter_holds_on_a_school_whose_second_case_no_seed_can_make(tmp_path):
    curve = data_file("incidence-Flu2009.csv")
    shutil.copy(curve, tmp_path / "flu.csv")
    assert agora(tmp_path, "new", "w.db", "--agents", "1000", "--graph", "community", "--seed", "61").returncode == 0
    base = (
        "backtest", "w.db", "--observed", "flu.csv", "--time", "day", "--tick", "1d", "--observe", "cases=onsets",
        "--model", "seir", "--param", "beta=0.001..0.5:log", "--param", "sigma=0.1..1", "--param", "gamma=0.05..1",
        "--param", "report=0.05..1", "--seeds", "random:1", "--budget", "1500", "--seed", "61", "--cut", "13",
        "--horizon", "7", "--filter", "negbin", "--filter-particles", "300", "--workers", "1", "--json",
    )  # fmt: skip
    collapsed = {}
    for extra in ((), ("--param", "start=0..10")):
        out = agora(tmp_path, *base, *extra)
        assert out.returncode == 0, out.stderr
        collapsed[bool(extra)] = json.loads(out.stdout)["cuts"][0]["filtered"]["collapsed"]
    assert collapsed == {False: True, True: False}


@pytest.mark.parametrize(("value", "said"), [("-1", "start"), ("2000", "from 0 to 1000"), ("2.5", "whole number")])
def test_a_bad_start_is_one_sentence(world, value, said):
    with pytest.raises(BadParameterError, match=said) as err:
        _sim(world, [*BASE, f"start={value}"])
    assert "\n" not in str(err.value)


def test_a_start_past_its_bound_is_one_sentence_on_the_command_line(late_curve):
    out = agora(
        late_curve, "fit", "w.db", "--observed", "c.csv", "--observe", "cases=onsets", "--model", "seir",
        "--param", "start=0..2000",
    )  # fmt: skip
    assert "start counts the rounds the epidemic runs before the observation's first tick" in one_sentence(out)


@pytest.mark.parametrize("kernel", ["batched", "engine"])
def test_a_count_of_seeds_is_the_selection_of_that_many(world, kernel):
    fitted = _sim(world, [*BASE, "seeds=1..20", "start=0..5"], kernel=kernel, seeds="random:1")
    for k, start in ((1, 0), (8, 3), (20, 5)):
        plain = _sim(world, [*BASE, f"start={start}"], kernel=kernel, seeds=f"random:{k}")
        fixed = _sim(world, [*BASE, f"seeds={k}", f"start={start}"], kernel=kernel, seeds="random:1")
        for seed in range(3):
            (got,) = fitted.runs(np.array([float(k), float(start)]), seed)
            (want,) = plain.runs(np.zeros(0), seed)
            (same,) = fixed.runs(np.zeros(0), seed)
            assert got["series"] == want["series"] == same["series"], (k, seed)
            assert got["seeds"] == want["seeds"] == k


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    """Daily onsets of a seir run from 12 random seeds on 3,000 agents."""
    path = tmp_path_factory.mktemp("twelve")
    _onsets(path, "random:12", 0, 40)
    return path


def test_a_fit_recovers_how_many_seeds_the_epidemic_started_from(twelve):
    lo, hi = _fitted(twelve, "seeds=1..40", "random:1", 2000)["seeds"]["ci90"]
    assert lo <= 12 <= hi and hi - lo < 20, (lo, hi)  # the data speak: narrower than the prior's 39


@pytest.mark.parametrize(
    ("texts", "seeds", "said"),
    [
        (["seeds=0..5"], "random:1", "a whole number from 1"),
        (["seeds=2.5"], "random:1", "a whole number from 1"),
        (["seeds=1..5000"], "random:1", "params seeds up to 5,000"),
        (["seeds=1..5"], "ids:1,2", "give a selection with a count"),
    ],
)
def test_a_bad_count_of_seeds_is_one_sentence(world, texts, seeds, said):
    with pytest.raises(BadParameterError, match=said) as err:
        _sim(world, [*BASE, *texts], seeds=seeds)
    assert "\n" not in str(err.value)
