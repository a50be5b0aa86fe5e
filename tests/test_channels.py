"""Observation channels (issue 74): each observed column seen through its own reporting fraction (a parameter of
its own name, fixed or fitted) and its own delay, so cases and deaths are one fit.

The check: one SIR run's onsets recorded at half (``report`` 0.5) and its removals as deaths at a fixed 10 % with a
gamma delay of 5 days (``--channel deaths:ifr:gamma:5,2``); fitted back, the 90 % intervals of ``beta`` and
``report`` both cover their truths, and the deaths' channel is said in the report.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, copy_world, one_sentence

from sim.engine.requests import split_params
from sim.lab.agents import load_world
from sim.model.registry import plugin_registry
from sim.runs.fit.reporting import delayed, gamma_delay, thin
from sim.runs.fit.simulate import Simulator

BETA, GAMMA, REPORT, IFR = 0.12, 0.25, 0.5, 0.1
TICKS = 40


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("channels")
    assert agora(path, "new", "w.db", "--agents", "1500", "--avg-degree", "8", "--seed", "6").returncode == 0
    world, registry = load_world(str(path / "w.db")), plugin_registry(None)
    priors, fixed = split_params(["beta=0.01..0.5", f"gamma={GAMMA}"])
    sim = Simulator(
        world, registry, model="sir", priors=priors, fixed=fixed, seeds="random:5", steps=TICKS, max_ticks=TICKS
    )
    series = sim.runs(np.array([BETA]), 7)[0]["series"]
    rng = np.random.default_rng(11)
    onsets = np.zeros(TICKS, dtype=np.int64)
    removals = np.zeros(TICKS, dtype=np.int64)
    onsets[: len(series["onsets"])] = series["onsets"][:TICKS]
    removals[: len(series["removals"])] = series["removals"][:TICKS]
    cases = thin(onsets, REPORT, rng)
    deaths = delayed(thin(removals, IFR, rng), gamma_delay(5.0, 2.0).pmf, rng)
    assert cases.sum() > 100 and deaths.sum() > 10  # an epidemic, and deaths to see
    rows = "".join(f"{d},{c},{x}\n" for d, (c, x) in enumerate(zip(cases, deaths, strict=True)))
    (path / "c.csv").write_text("day,cases,deaths\n" + rows)
    return path


FIT = (
    "--observe", "cases=onsets", "--observe", "deaths=removals", "--model", "sir", "--tick", "1d",
    "--param", "beta=0.02..0.4", "--param", f"gamma={GAMMA}", "--param", "report=0.1..1", "--seeds", "random:5",
)  # fmt: skip


def test_cases_and_deaths_with_their_own_fractions_and_delays_recover_the_truth(folder):
    out = agora(
        folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--param", f"ifr={IFR}", "--channel",
        "deaths:ifr:gamma:5,2", "--budget", "3000", "--seed", "2", "--workers", "1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for name, truth in (("beta", BETA), ("report", REPORT)):
        lo, hi = data["params"][name]["ci90"]
        assert lo <= truth <= hi, (name, truth, lo, hi)
    channels = data["observed"]["observation"]["channels"]
    assert [(c["column"], c["fraction"], c["value"], c["delay"]["source"]) for c in channels] == [
        ("removals", "ifr", IFR, "gamma:5,2")
    ]
    assert abs(channels[0]["delay"]["mean"] - 5.0) < 0.05


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--channel", "deaths:ifr"), "channel removals's fraction ifr is neither fitted nor fixed"),
        (("--channel", "deaths:ifr", "--param", "ifr=0..2"), "ifr is an observation channel's reporting fraction"),
        (("--channel", "deaths:beta"), "fraction beta is a parameter of model 'sir'"),
        (("--channel", "deaths:ifr:gamma:5", "--param", "ifr=0.1"), "gamma:MEAN,SD"),
        (("--channel", "graves:ifr", "--param", "ifr=0.1"), "the observed series has no column 'graves'"),
    ],
)
def test_bad_channels_are_one_sentence(folder, args, said):
    out = agora(folder, "fit", "w.db", "--observed", "c.csv", *FIT, *args, "--budget", "100")
    assert out.returncode == 2 and said in one_sentence(out), out.stderr


def test_a_posterior_with_a_channels_fraction_forecasts_a_session(folder, tmp_path):
    """A channel's fraction is the observation model's, as report is: the posterior file marks its column
    (``channel.ifr``) and a session's forecast from it leaves it out, from the file and from the fit in memory."""
    out = agora(
        folder, "fit", "w.db", "--observed", "c.csv", *FIT, "--param", "ifr=0.01..0.5", "--channel", "deaths:ifr",
        "--budget", "300", "--seed", "1", "--workers", "1", "-o", str(tmp_path / "post.csv"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    head = (tmp_path / "post.csv").read_text().splitlines()[0].split(",")
    assert head == ["beta", "report", "channel.ifr", "weight"]
    copy_world(folder / "w.db", tmp_path / "w.db")
    run = agora(tmp_path, "run", "w.db", "--inject", "x", "--model", "sir", "--param", "beta=0.1", "--seeds",
                "random:3", "--steps", "2")  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = agora(tmp_path, "forecast", "w.db", "--runs", "4", "--ticks", "3", "--posterior", "post.csv", "--json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["arms"]
