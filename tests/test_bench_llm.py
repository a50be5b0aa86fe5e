"""The LLM client benchmark at a small size: its fields, every request answered, servers gone afterwards."""

from __future__ import annotations

import json

import psutil
import pytest

import sim.bench.llm as bench_llm_module
from sim.bench.llm import TARGET_PER_SECOND, bench_llm


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def result():
    before = _children()
    seen: list[tuple[str, float]] = []
    r = bench_llm(requests=200, concurrency=16, latency=0.005, progress=lambda label, f: seen.append((label, f)))
    return r, seen, before, _children()


def test_fields_and_json(result):
    r, _, _, _ = result
    json.dumps(r)  # JSON-able
    for key in (
        "benchmark",
        "requests",
        "concurrency",
        "latency_ms",
        "servers",
        "ideal_per_second",
        "baseline",
        "agora",
        "ratio_to_baseline",
        "overhead_ms_per_call",
        "target_per_second",
        "target_met",
        "all_answered",
        "peak_rss_mb",
    ):
        assert key in r, key
    assert r["benchmark"] == "llm"
    assert (r["requests"], r["concurrency"], r["servers"]) == (200, 16, 1)
    assert r["latency_ms"] == 5.0
    assert r["ideal_per_second"] == pytest.approx(16 / 0.005)
    assert r["target_per_second"] == TARGET_PER_SECOND
    assert r["target_met"] == (r["agora"]["per_second"] >= TARGET_PER_SECOND)
    assert r["peak_rss_mb"] > 0
    for side in ("baseline", "agora"):
        s = r[side]
        for key in ("per_second", "wall_s", "p50_ms", "p95_ms", "cpu_ms_per_call", "ok"):
            assert key in s, (side, key)
        assert s["per_second"] > 0 and s["wall_s"] > 0 and s["cpu_ms_per_call"] > 0
        assert 0 < s["p50_ms"] <= s["p95_ms"] <= s["max_ms"]
        assert s["p50_ms"] >= 5.0  # never faster than the server's latency
        assert s["ok"] == [200, 200, 200]
    # the derived figures come from the measured ones
    assert r["ratio_to_baseline"] == pytest.approx(r["agora"]["per_second"] / r["baseline"]["per_second"], abs=1e-3)
    assert r["overhead_ms_per_call"] == pytest.approx(
        r["agora"]["cpu_ms_per_call"] - r["baseline"]["cpu_ms_per_call"], abs=1e-3
    )


def test_every_agora_request_answered(result):
    r, _, _, _ = result
    st = r["agora"]["stats"]
    assert st["requests"] == r["warmup"] + 3 * r["requests"]
    assert st["answered"] == st["requests"] == st["calls"]
    assert st["fallbacks"] == 0 and st["failures"] == 0 and st["retries"] == 0
    assert st["tokens_in"] > 0 and st["tokens_out"] > 0
    assert r["all_answered"] is True


def test_progress_reported(result):
    _, seen, _, _ = result
    assert seen and seen[-1] == ("done", 1.0)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)


def test_servers_gone_afterwards(result):
    _, _, before, after = result
    assert after <= before


def test_servers_killed_on_error(monkeypatch):
    before = _children()
    started: list[int] = []

    async def boom(urls, procs, *args, **kwargs):
        started.extend(p.pid for p in procs)
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
        raise RuntimeError("boom")

    monkeypatch.setattr(bench_llm_module, "_measure", boom)
    with pytest.raises(RuntimeError, match="boom"):
        bench_llm(requests=10, concurrency=2, latency=0.001, servers=2)
    assert len(started) == 2
    assert _children() <= before
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in started)


def test_bad_arguments():
    with pytest.raises(ValueError):
        bench_llm(requests=0)
    with pytest.raises(ValueError):
        bench_llm(concurrency=0)


def test_server_that_dies_is_reported():
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stderr.write('no port for you'); sys.exit(3)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        with pytest.raises(RuntimeError, match="exited before listening"):
            bench_llm_module._read_url(proc, 120)  # it ends at the child's exit: only bounds a hang
    finally:
        bench_llm_module._stop_servers([proc])
