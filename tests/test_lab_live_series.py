"""A live session's per-tick series in Python (issue 60: ``live.series(session)``): the measures a run's series has,
one numpy array each over the session's ticks, equal to what ``agora run --series`` writes of the same world,
message and seed (the command is run as a subprocess, its file compared byte for byte)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import agora

import sim
from sim.errors import AgoraError, BadParameterError

N = 300
SIR = ("--model", "sir", "--param", "beta=0.1", "--param", "gamma=0.2", "--seeds", "top:5")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("live_series") / "base.db"
    sim.new_world(str(path), agents=N, avg_degree=8, seed=3)
    return path


def copy_of(base: Path, folder: Path, name: str) -> Path:
    target = folder / name
    shutil.copy(base, target)
    return target


def test_the_series_is_agora_runs_byte_for_byte(base, tmp_path):
    cli = copy_of(base, tmp_path, "cli.db")
    proc = agora(tmp_path, "run", str(cli), "--inject", "x", *SIR, "--steps", "20", "--series", "cli.csv")
    assert proc.returncode == 0, proc.stderr
    with sim.open_world(str(copy_of(base, tmp_path, "live.db"))).simulation() as live:
        session = live.inject("x", model="sir", params={"beta": 0.1, "gamma": 0.2}, seeds="top:5")
        live.step(20)
        series = live.series(session["id"])
        written = series.write(str(tmp_path / "live.csv"))
    assert (tmp_path / "live.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert written["rows"] == len(series) * len(series.measures())
    # One array per measure over the ticks: states sum to N at every tick, reached is new's running sum.
    assert series.session == session["id"] and series.model == "sir" and len(series) == 20
    assert series.measures()[:5] == ["S", "I", "R", "reached", "new"]
    assert series.declared.states == ("S", "I", "R") and "reached" in series.declared.measures
    assert series.ticks.tolist() == list(range(20)) and series["I"].dtype == np.int64
    assert (series["S"] + series["I"] + series["R"] == N).all()
    assert np.array_equal(np.cumsum(series["new"]), series["reached"]) and series["I"][0] == 5
    cols = series.columns()
    assert list(cols)[0] == "tick" and all(a.shape == (20,) for a in cols.values())
    frame = series.to_pandas()
    assert frame.shape == (20, 1 + len(series.measures())) and frame["I"].tolist() == series["I"].tolist()
    assert series.to_dict()["I"] == series["I"].tolist()
    # The long format of the ensemble's series, run 0 of one run: the same numbers.
    rows = series.long().columns()
    at = rows["measure"] == "I"
    assert rows["tick"][at].tolist() == list(range(20)) and rows["value"][at].tolist() == series["I"].tolist()


def test_variables_are_float_columns_as_the_command_writes_them(base, tmp_path):
    cli = copy_of(base, tmp_path, "cli.db")
    proc = agora(tmp_path, "run", str(cli), "--inject", "x", "--model", "deffuant", "--steps", "5", "--series", "c.csv")
    assert proc.returncode == 0, proc.stderr
    with sim.open_world(str(copy_of(base, tmp_path, "live.db"))).simulation() as live:
        live.inject("x", model="deffuant", seeds="random:10")
        live.step(5)
        series = live.series()  # the latest session
        series.write(str(tmp_path / "l.csv"))
    assert (tmp_path / "l.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()
    assert series.declared.variables == ("opinion.mean", "opinion.std", "opinion.min", "opinion.max")
    mean = series["opinion.mean"]
    assert mean.dtype == np.float64 and mean.shape == (5,) and 0 < mean[0] < 1
    assert (series["opinion.min"] <= mean).all() and (mean <= series["opinion.max"]).all()


def test_a_running_world_gives_its_series_as_of_now(base, tmp_path):
    with sim.open_world(str(copy_of(base, tmp_path, "live.db"))).simulation() as live:
        first = live.inject("a", model="sir", params={"beta": 0.1, "gamma": 0.2}, seeds="top:5")
        live.step(3)
        second = live.inject("b", model="ic", params={"p": 0.05}, seeds="top:5")
        live.step(4)
        latest = live.series()
        assert latest.session == second["id"] and latest.model == "ic" and len(latest) == 4
        older = live.series(first["id"])
        assert len(older) == 7 and older["reached"][-1] == live.session(first["id"])["reached"]
        # Read between ticks while it runs: every read is a whole tick's row.
        live.run(pace=200)
        seen = [live.series(first["id"]) for _ in range(3)]
        live.pause()
        after = live.series(first["id"])
        lengths = [len(s) for s in seen]
        assert lengths == sorted(lengths) and lengths[0] >= 7 and lengths[-1] <= len(after)
        for s in seen:  # each read is the start of the later one: what a tick recorded never changes
            assert (s["S"] + s["I"] + s["R"] == N).all()
            assert all(np.array_equal(s[m], after[m][: len(s)]) for m in s.measures())


def test_mistakes_are_one_sentence(base, tmp_path):
    with sim.open_world(str(copy_of(base, tmp_path, "live.db"))).simulation() as live:
        with pytest.raises(BadParameterError, match=r"^the world has no session yet: inject one first"):
            live.series()
        session = live.inject("a", model="sir", params={"beta": 0.1, "gamma": 0.2}, seeds="top:5")
        live.step(2)
        with pytest.raises(AgoraError, match=r"^no session 99\b"):
            live.series(99)
        with pytest.raises(BadParameterError, match=r"^the series of session 1 has no measure 'X': it has S, I, R"):
            live.series(session["id"])["X"]
    with pytest.raises(sim.ClosedError, match="is closed"):
        live.series()
