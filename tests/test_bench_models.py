"""``agora bench models`` at a small size: every figure is there and is a measurement, a model the
benchmark does not know is refused, and NDlib's side says why when it cannot run."""

from __future__ import annotations

import json

from conftest import agora


def test_bench_models_times_every_model_asked_for(tmp_path):
    out = agora(
        tmp_path,
        "bench",
        "models",
        "--agents",
        "3000",
        "--ticks",
        "2",
        "--ndlib-agents",
        "0",
        "--model",
        "ic",
        "--model",
        "sir",
        "--model",
        "threshold",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["benchmark"] == "models" and data["agents"] == 3000 and data["edges"] > 0
    assert set(data["models"]) == {"ic", "sir", "threshold"}
    for name, m in data["models"].items():
        assert m["ticks_timed"] >= 1 and m["error"] is None, (name, m)
        assert 0 < m["tick_ms_median"] <= m["tick_ms_max"], (name, m)
        assert m["within_target"] == (m["tick_ms_median"] <= data["target_tick_ms"])
        assert m["reached"] >= 3, (name, m)  # 0.1 % of 3,000 agents seeded at least
    assert data["models"]["sir"]["params"]["beta"] == 0.08
    assert data["all_within_target"] == all(m["within_target"] for m in data["models"].values())


def test_bench_models_refuses_an_unknown_model(tmp_path):
    out = agora(tmp_path, "bench", "models", "--agents", "1000", "--model", "nosuch")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "no built-in model 'nosuch'" in out.stderr and "ic" in out.stderr


def test_ndlib_side_runs_or_says_why(tmp_path):
    out = agora(
        tmp_path,
        "bench",
        "models",
        "--agents",
        "2000",
        "--ticks",
        "1",
        "--ndlib-agents",
        "500",
        "--model",
        "sir",
        "--model",
        "viral",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    models = json.loads(out.stdout)["models"]
    assert models["viral"]["ndlib"] == {"available": False, "reason": "NDlib has no such model"}
    nd = models["sir"]["ndlib"]
    if nd["available"]:  # NDlib installed (the bench extra): a measured comparison
        assert nd["iteration_ms_median"] > 0 and nd["speedup"] > 0 and nd["parameters"] == {"beta": 0.08, "gamma": 0.2}
    else:
        assert "pip install 'agora-sim[bench]'" in nd["reason"]
