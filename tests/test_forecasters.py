"""Forecasters as plugins (issue 74): a forecaster is a file in a plugins folder, and ``agora backtest --method NAME``
scores it beside persistence with no change to ``sim/``; ``agora forecast --observed`` forecasts with it; its answer
is checked and its faults are one sentence; the built-in methods are forecasters of the same registry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, one_sentence

from sim.errors import BadParameterError
from sim.model.registry import FORECASTER, Registry
from sim.runs.backtest.methods import BUILTIN, CutContext, forecast_draws, forecaster, registered, stream_of

#: A user's forecaster: the last tick's count plus Poisson noise (its own draws from ctx.rng), and a second one
#: that answers the wrong shape.
USER = """
import numpy as np
from sim.plugin import Forecaster, Param


class LastPlusNoise(Forecaster):
    name = "last-plus-noise"
    description = "the last count, with Poisson noise"
    colour = "#e377c2"
    params = {"scale": Param(float, 1.0, 0.0, 10.0, "noise scale")}

    def forecast(self, ctx):
        last = float(ctx.history[-1])
        return ctx.rng.poisson(max(last, 0.0) * self.p["scale"], size=(ctx.draws, ctx.horizon)).astype(float)


class Wrong(Forecaster):
    name = "wrong-shape"

    def forecast(self, ctx):
        return np.zeros((ctx.horizon, ctx.draws + 1))


class Crashes(Forecaster):
    name = "crashes"

    def forecast(self, ctx):
        return 1 / 0


class Refuses(Forecaster):
    name = "refuses"

    def forecast(self, ctx):
        from sim.errors import BadParameterError
        raise BadParameterError("a history of fewer than 100 ticks cannot be forecast")
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("forecasters")
    assert agora(path, "new", "w.db", "--agents", "300", "--seed", "4").returncode == 0
    counts = [1, 2, 4, 7, 11, 16, 22, 27, 30, 31, 29, 25, 20, 15, 11, 8, 5, 3, 2, 1]
    (path / "c.csv").write_text("day,cases\n" + "".join(f"{d},{c}\n" for d, c in enumerate(counts)))
    (path / "mine").mkdir()
    (path / "mine" / "forecasters.py").write_text(USER)
    return path


BACKTEST = ("--observe", "cases=new", "--model", "sir", "--param", "beta=0.05..0.5", "--param", "gamma=0.1..0.5")


def test_a_users_forecaster_is_scored_beside_persistence(folder):
    out = agora(
        folder, "backtest", "w.db", "--observed", "c.csv", *BACKTEST, "--method", "last-plus-noise,persistence",
        "--plugins", "mine", "--cut", "6,10,14", "--horizon", "3", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["methods"] == ["last-plus-noise", "persistence", "ensemble"]
    table = data["scores"]["last-plus-noise"]
    assert table["all"]["relative_wis"] is not None and table["all"]["relative_wis"] > 0
    assert len(data["cuts"]) == 3 and all("last-plus-noise" in c["quantiles"] for c in data["cuts"])
    again = agora(
        folder, "backtest", "w.db", "--observed", "c.csv", *BACKTEST, "--method", "last-plus-noise,persistence",
        "--plugins", "mine", "--cut", "6,10,14", "--horizon", "3", "--json",
    )  # fmt: skip
    assert json.loads(again.stdout)["scores"] == data["scores"]  # its draws come from the cut's own generator


def test_a_users_forecaster_forecasts_past_the_data(folder):
    out = agora(
        folder, "forecast", "w.db", "--observed", "c.csv", *BACKTEST, "--method", "last-plus-noise",
        "--plugins", "mine", "--horizon", "4", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert "last-plus-noise" in data["quantiles"]


@pytest.mark.parametrize(
    ("method", "said"),
    [
        ("wrong-shape", "forecaster wrong-shape at cut 10 answered draws of shape (3, 1001), not (1000, 3)"),
        ("refuses", "forecaster refuses at cut 10: a history of fewer than 100 ticks cannot be forecast"),
        ("oracle", "method 'oracle' is no forecaster: give agora, crashes, ensemble, last-plus-noise"),
        ("crashes", "forecaster crashes failed at cut 10: ZeroDivisionError: division by zero"),
    ],
)
def test_a_forecasters_fault_is_one_sentence(folder, method, said):
    out = agora(
        folder, "backtest", "w.db", "--observed", "c.csv", *BACKTEST, "--method", method, "--plugins", "mine",
        "--cut", "10", "--horizon", "3",
    )  # fmt: skip
    first = out.stderr.splitlines()[0] if method == "crashes" else one_sentence(out)
    assert out.returncode == 2 and said in first, out.stderr
    if method == "crashes":  # its own frames, for its author
        assert "Traceback" in out.stderr and "forecasters.py" in out.stderr and "1 / 0" in out.stderr
        assert "inprocess.py" not in out.stderr  # the plugin's frames, not Agora's


def test_the_built_in_methods_are_forecasters_of_the_registry():
    registry = registered(Registry([]))
    names = [e.name for e in registry.list(FORECASTER)]
    assert names == sorted([*(cls.name for cls in BUILTIN), "trend"])  # trend: plugins/forecasters.py
    assert forecaster(registry, "renewal").needs == ("serial_interval",)
    assert [stream_of(n) for n in ("agora", "persistence", "renewal")] == [0, 1, 2]  # the draws of every earlier run
    assert stream_of("mine") == stream_of("mine") > 15
    with pytest.raises(BadParameterError, match="is no forecaster"):
        forecaster(registry, "oracle")


def test_persistence_as_a_forecaster_is_the_baseline_it_was():
    from sim.analysis import baselines

    history = np.array([0, 1, 3, 5, 8, 9, 12, 10, 14], dtype=float)
    ctx = CutContext(history, 4, 200, np.random.default_rng(3), 1, None, None, 7, 7)
    got = forecast_draws(forecaster(registered(Registry([])), "persistence"), ctx, "cut 8")
    want = baselines.persistence(history, 4, 200, np.random.default_rng(3), level=7)
    assert np.array_equal(got, np.asarray(want, dtype=float))


def test_plugins_check_tests_a_forecaster_as_it_tests_a_model(folder):
    out = agora(folder, "plugins", "check", "mine/forecasters.py", "--json")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert set(report["forecasters"]) == {"last-plus-noise", "wrong-shape", "crashes", "refuses"}
    status = {(c["model"], c["name"]): c["status"] for c in report["checks"]}
    assert all(status[("last-plus-noise", n)] == "pass" for n in ("answer", "counts", "deterministic", "bad history"))
    assert status[("wrong-shape", "answer")] == "fail"
    assert status[("refuses", "answer")] == "fail"  # it refuses histories it should forecast
