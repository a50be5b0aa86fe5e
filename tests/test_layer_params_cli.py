"""Parameters per contact layer on the command line (issue 59): ``beta@LAYER`` in run, sweep, fit and forecast
arms on the Hagelloch world, and the one-sentence refusals (a layer the world lacks, a parameter that acts per
agent), exit 2, the world file untouched."""

from __future__ import annotations

import json

import pytest
from conftest import agora, copy_world, digest, one_sentence

LAYERED = ["--param", "beta@household=0.3", "--param", "beta=0", "--param", "gamma=0.15"]


@pytest.fixture(scope="module")
def hagelloch(tmp_path_factory, hagelloch_file):
    folder = tmp_path_factory.mktemp("hagelloch")
    copy_world(hagelloch_file, folder / "h.db")
    return folder


def reach(folder, *args: str) -> float:
    out = agora(folder, "run", "h.db", "--inject", "m", "--seeds", "ids:1", *args, "--until-done", "--json")
    assert out.returncode == 0, out.stderr
    return float(json.loads(out.stdout)["mean_reached"])


def test_closing_the_class_layer_keeps_the_outbreak_in_the_first_household(hagelloch):
    closed = reach(hagelloch, "--model", "sir", *LAYERED, "--param", "beta@class=0", "--runs", "20")
    open_ = reach(hagelloch, "--model", "sir", *LAYERED, "--param", "beta@class=0.05", "--runs", "20")
    # child 1's household has 5 children (HN 61 in the file): with no class transmission nobody else is reached
    assert closed <= 5
    assert open_ > 100


def test_a_sweep_varies_one_layers_value(hagelloch):
    out = agora(
        hagelloch,
        "sweep",
        "h.db",
        "--inject",
        "m",
        "--seeds",
        "ids:1",
        "--model",
        "sir",
        "--grid",
        "sir.beta@class=0,0.1",
        *LAYERED,
        "--runs",
        "8",
        "--until-done",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert [r["params"]["beta@class"] for r in results] == [0.0, 0.1]
    assert results[0]["mean_reached"] <= 5 < 100 < results[1]["mean_reached"]


def test_a_forecast_arm_closes_the_schools(hagelloch, tmp_path):
    import shutil

    shutil.copy(hagelloch / "h.db", tmp_path / "h.db")
    started = agora(
        tmp_path, "run", "h.db", "--inject", "m", "--seeds", "ids:1", "--model", "sir", *LAYERED,
        "--param", "beta@class=0.05", "--steps", "6",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    out = agora(
        tmp_path, "forecast", "h.db", "--runs", "30", "--until-done", "--arm", "open=none",
        "--arm", "closed=set:beta@class=0", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    arms = json.loads(out.stdout)["arms"]
    assert arms["closed"]["reached"]["mean"] < arms["open"]["reached"]["mean"] - 20


def test_a_fit_recovers_a_layers_value_inside_its_prior(hagelloch, tmp_path):
    import shutil

    shutil.copy(hagelloch / "h.db", tmp_path / "h.db")
    run = agora(
        tmp_path, "run", "h.db", "--inject", "m", "--seeds", "ids:1", "--model", "sir", *LAYERED,
        "--param", "beta@class=0.05", "--until-done", "--series", "obs.csv",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(hagelloch / "h.db", fresh / "h.db")
    out = agora(
        fresh, "fit", "h.db", "--observed", str(tmp_path / "obs.csv"), "--model", "sir", "--seeds", "ids:1",
        "--param", "beta@class=0.001..0.5:log", *LAYERED, "--budget", "200", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    fitted = json.loads(out.stdout)["params"]
    assert list(fitted) == ["beta@class"]
    lo, hi = fitted["beta@class"]["ci90"]
    assert 0.001 <= lo < hi <= 0.5 and hi / lo < 100  # the data narrowed a prior 500 wide


@pytest.mark.parametrize(
    ("command", "args", "said"),
    [
        ("run", ["--param", "beta@school=0.1", "--until-done"], "beta@school: this world has no contact layer school"),
        ("run", ["--param", "gamma@class=0.1", "--until-done"], "parameter gamma takes one value for every agent"),
        (
            "sweep",
            ["--grid", "beta@school=0,0.1", "--runs", "2", "--until-done"],
            "beta@school: this world has no contact layer school",
        ),
        (
            "fit",
            ["--observed", "obs.csv", "--param", "beta@school=0.01..0.5", "--budget", "50"],
            "beta@school: this world has no contact layer school",
        ),
    ],
)
def test_a_layer_the_world_lacks_is_one_sentence_and_exit_2(hagelloch, command, args, said):
    (hagelloch / "obs.csv").write_text("run,tick,measure,value\n0,0,I,1\n0,1,I,2\n")
    before = digest(hagelloch / "h.db")
    extra = ["--inject", "m"] if command in ("run", "sweep") else []
    out = agora(hagelloch, command, "h.db", *extra, "--seeds", "ids:1", "--model", "sir", *args)
    assert out.returncode == 2, out.stderr
    assert said in one_sentence(out)
    assert digest(hagelloch / "h.db") == before


def test_measured_susceptibility_and_infectivity_from_the_table_change_who_is_reached(tmp_path):
    """A people table's susceptibility (receiver) and infectivity (sender) columns multiply the chance of an
    attempt: with beta 1 in the household, a child of susceptibility 0 is never infected, and a seed of
    infectivity 0 infects nobody."""
    (tmp_path / "p.csv").write_text(
        "id,house,susceptibility,infectivity\n1,a,1,1\n2,a,0,1\n3,a,1,1\n4,b,1,0\n5,b,1,1\n"
    )
    made = agora(tmp_path, "new", "p.db", "--people", "p.csv", "--group", "house")
    assert made.returncode == 0, made.stderr

    def reached(seed: int) -> float:
        out = agora(
            tmp_path, "run", "p.db", "--inject", "m", "--seeds", f"ids:{seed}", "--model", "sir",
            "--param", "beta=1", "--param", "gamma=1", "--runs", "5", "--until-done", "--json",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return float(json.loads(out.stdout)["mean_reached"])

    assert reached(1) == 2.0  # 1 and 3: 2 is not susceptible
    assert reached(4) == 1.0  # 4 infects nobody
    assert reached(5) == 2.0  # 5 infects 4
