"""Issue 73: a column of imported cases read from the data (``--imported COLUMN[:included]``) and used by the fit,
the backtest's baselines and ``agora rt``; the MERS curve of ``../shared/data`` as the real case."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, data_file, one_sentence

from sim.analysis.baselines import project, renewal, renewal_weights
from sim.analysis.rt import estimate_rt
from sim.analysis.rtcurve import serial_interval_of
from sim.errors import BadFileError, BadParameterError
from sim.store.observed import read_observed

LOCAL = [0, 1, 0, 2, 3, 1, 4, 2, 5, 3, 6, 4]
CAME = [1, 0, 0, 2, 0, 1, 0, 0, 1, 0, 0, 2]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("imports")
    assert agora(path, "new", "w.db", "--agents", "400", "--seed", "5").returncode == 0
    rows = "".join(f"{d},{loc},{c},{loc + c}\n" for d, (loc, c) in enumerate(zip(LOCAL, CAME, strict=True)))
    (path / "c.csv").write_text("day,local,imported,cases\n" + rows)
    return path


def test_the_imported_column_is_read_apart_and_included_ones_are_taken_out(folder):
    apart = read_observed(str(folder / "c.csv"), observe=[("local", "onsets")], imported="imported")
    assert list(apart.columns) == ["onsets"] and apart.columns["onsets"].tolist() == LOCAL
    assert apart.imported is not None and apart.imported.tolist() == CAME
    assert apart.recorded["imported"] == {"column": "imported", "included": False, "total": sum(CAME)}
    within = read_observed(str(folder / "c.csv"), observe=[("cases", "onsets")], imported="imported:included")
    assert within.columns["onsets"].tolist() == LOCAL and within.imported.tolist() == CAME
    cut = apart.truncated(5)
    assert cut.imported.tolist() == CAME[:6] and cut.ticks.tolist() == list(range(6))


def test_imported_cases_above_the_cases_they_are_part_of_are_refused(folder):
    # local counts the local cases alone: the imported ones cannot be part of it (day 0: 1 imported, 0 local).
    with pytest.raises(BadFileError, match=r"1 imported cases \(column imported\) in tick 0, more than its 0 cases"):
        read_observed(str(folder / "c.csv"), observe=[("local", "onsets")], imported="imported:included")
    with pytest.raises(BadParameterError, match="imported names no column"):
        read_observed(str(folder / "c.csv"), observe=[("local", "onsets")], imported="travel")
    with pytest.raises(BadParameterError, match="which observe maps to a measure"):
        read_observed(str(folder / "c.csv"), observe=[("local", "onsets"), ("imported", "new")], imported="imported")


FIT = ("--observe", "local=onsets", "--model", "seir", "--param", "beta=0.05..0.5", "--param", "sigma=0.2..1")


def test_a_fit_with_imports_says_how_it_read_them(folder):
    out = agora(
        folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--param", "gamma=0.1..1", "--imported", "imported",
        "--seeds", "none", "--budget", "200", "--workers", "1",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"imported: {sum(CAME)} cases of column imported, infecting from outside" in out.stdout
    out = agora(
        folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--param", "gamma=0.1..1", "--imported", "imported",
        "--param", "import=0..2", "--seeds", "none", "--budget", "200", "--workers", "1", "--json",
    )  # fmt: skip
    data = json.loads(out.stdout)
    assert data["observed"]["recorded"]["imported"]["total"] == sum(CAME)
    assert "import" in data["params"] and 0 <= data["params"]["import"]["median"] <= 2


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--imported", "imported:included"), "more than its 0 cases (local)"),
        (("--imported", ":included"), "imported must name the column of imported cases"),
        (("--imported", "imported", "--param", "import=0..900"), "import counts people a tick from 0 to 500"),
        (("--imported", "imported", "--param", "import=-2"), "import=-2 must be a number of people a tick"),
    ],
)
def test_bad_imports_are_one_sentence_and_exit_2(folder, args, said):
    out = agora(folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--param", "gamma=0.1..1", *args, "--budget", "100")
    assert out.returncode == 2 and said in one_sentence(out), out.stderr


def test_rt_reads_imported_cases_counted_among_the_cases_as_apart(folder):
    apart = agora(folder, "rt", "c.csv", "--cases", "local", "--imported", "imported", "--serial-interval", "gamma:3,2")
    within = agora(
        folder, "rt", "c.csv", "--cases", "cases", "--imported", "imported:included", "--serial-interval", "gamma:3,2"
    )
    assert apart.returncode == 0 and within.returncode == 0, within.stderr
    wrong = agora(
        folder, "rt", "c.csv", "--cases", "local", "--imported", "imported:included", "--serial-interval", "gamma:3,2"
    )  # local counts the local cases alone: day 0's import is more than its 0 cases
    assert wrong.returncode == 2 and "1 imported cases (column imported) in tick 0, more than its 0 cases (local)" in (
        one_sentence(wrong)
    )
    table = [line for line in apart.stdout.splitlines() if line[:1].isdigit()]
    assert table and table == [line for line in within.stdout.splitlines() if line[:1].isdigit()]


def test_the_renewal_projection_counts_imported_cases_as_infectors():
    si = serial_interval_of("gamma:3,2")
    local, came = np.array(LOCAL, dtype=float), np.array(CAME, dtype=float)
    weights = renewal_weights(si, local.size + 1)
    # One tick ahead with R fixed: the mean is R times the infectivity of local and imported cases together.
    draws = project(local, weights, np.full(40_000, 1.5), 1, np.random.default_rng(1), came)
    both = local + came
    want = 1.5 * float(both[::-1] @ weights[1 : local.size + 1])
    assert abs(draws.mean() - want) < 4 * np.sqrt(want / draws.size)
    # R itself is EpiEstim's with imports: the projection's draws of R are that posterior's.
    est = estimate_rt(local, si, imported=came, window=7)
    got = renewal(local, "gamma:3,2", 1, 20_000, 2, window=7, imported=came)
    no_imports = renewal(local, "gamma:3,2", 1, 20_000, 2, window=7)
    mean_r = float(est.shape[-1] * est.scale[-1])
    assert abs(got.mean() - mean_r * want / 1.5) < 0.05 * mean_r * want / 1.5
    assert got.mean() != pytest.approx(no_imports.mean(), rel=0.02)  # the imports change the forecast


def test_the_mers_curves_imports_come_in_and_are_not_counted_as_local_cases(tmp_path):
    """The real case: MERS 2014-15, 64 imported cases (the first on day 0), seeded by them alone: with no
    transmission every simulated local onset is 0 while all 64 come in; a world standing for 10,000 people takes
    6 of them (64 x 1,000 / 10,000, rounded as a running total)."""
    from sim.engine.requests import Fit
    from sim.lab.agents import load_world
    from sim.model.registry import plugin_registry
    from sim.runs.fit.fitting import Plan

    assert agora(tmp_path, "new", "m.db", "--agents", "1000", "--seed", "61").returncode == 0
    world, registry = load_world(str(tmp_path / "m.db")), plugin_registry(str(tmp_path / "m.db"))
    fields = {
        "observed": data_file("incidence-mers_2014_15.csv"), "time": "day", "tick": "1d",
        "observe": ["local=onsets"], "imported": "imported", "model": "seir", "seeds": "none",
        "params": ["beta=0", "sigma=0.3", "gamma=0.05..1"], "method": "abc",
    }  # fmt: skip
    plan = Plan(world, registry, Fit.parse(fields))
    assert plan.observed.recorded["imported"] == {"column": "imported", "included": False, "total": 64}
    counts, after = plan.imports()
    assert counts.sum() == 64 and after == pytest.approx(64 / 495)
    for seed in range(3):
        series = plan.simulator.runs(np.array([0.2]), seed)[0]["series"]
        assert sum(series["imported"]) == 64 and series["I"][0] == 1  # day 0's import, infectious at once
        assert set(series["onsets"]) == {0} and set(series["new"]) == {0}  # the local cases: none
    scaled = Plan(world, registry, Fit.parse({**fields, "people": 10_000, "params": ["beta=0.1", "gamma=0.05..1"]}))
    counts, _ = scaled.imports()
    assert counts.sum() == 6 and set(counts.tolist()) <= {0, 1}


def test_a_fit_whose_simulations_never_vary_says_so_without_numpys_warnings(folder):
    """beta 0: every simulation's local onsets are 0 (the imported cases are not local), unlike the data's: the fit
    says that nothing tells the parameters apart, not that the posterior is exact, and numpy says nothing."""
    out = agora(
        folder, "fit", "w.db", "--observed", "c.csv", "--observe", "local=onsets", "--model", "seir",
        "--param", "beta=0", "--param", "gamma=0.1..1", "--imported", "imported", "--seeds", "none",
        "--budget", "100", "--workers", "1",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "every simulation gave the same statistics, unlike the data's" in out.stdout
    assert "an exact posterior" not in out.stdout and "Warning" not in out.stderr
