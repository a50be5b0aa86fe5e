"""``agora bench forecast`` (issue 49) on a small world: the fields, and the verdict from the figures."""

from __future__ import annotations

import json

from sim.bench.forecast import TARGET, bench_forecast, forecast_lines
from sim.cli.main import main


def test_the_bench_reports_both_timings_and_a_verdict_from_them():
    r = bench_forecast(8000, runs=20, p=0.08, repeats=1, workers=1)
    assert r["available"] and r["branched_at"]["reached"] >= 0.05 * 8000
    f, s = r["forecast"]["median_seconds"], r["from_seeds"]["median_seconds"]  # rounded to the millisecond
    assert r["forecast"]["kernel"] == "batched"
    assert abs(r["ratio"] - f / s) <= 0.001 / s * (1 + f / s) + 0.001
    met = r["ratio"] <= TARGET["ratio"] and f <= TARGET["seconds"]
    assert r["verdict"] == ("met" if met else "not met")
    assert len(forecast_lines(r)) == 4


def test_the_command(capsys):
    assert (
        main(["bench", "forecast", "--agents", "6000", "--runs", "10", "--repeats", "1", "--workers", "1", "--json"])
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["benchmark"] == "forecast" and r["runs"] == 10 and r["workers"] == 1
