"""``agora bench memory`` on a small scale: its figures exist, are consistent, and say what they claim."""

from __future__ import annotations

from sim.bench.memory import bench_memory


def test_bench_memory_reports_costs_prompt_sizes_and_untouched_rule_runs():
    r = bench_memory(agents=600, ticks=6, llm_agents=6, rule_agents=3000, rule_ticks=4, scaling=(20, 60))
    on, off = r["llm"]["with_memory"], r["llm"]["baseline_off"]
    assert on["agents_remembering"] > 0 and on["events"] > 0 and on["bytes_per_agent"] > 0
    assert off["agents_remembering"] == 0 and off["events"] == 0 and off["memory_tokens"]["max"] == 0
    assert on["prompt_tokens"]["count"] == on["requests"] > 0
    assert on["memory_tokens"]["max"] <= 400 and on["prompt_tokens"]["max"] > off["prompt_tokens"]["p50"]
    assert r["recall"]["agents"] > 0 and r["recall"]["memory_part_us_median"] > 0
    scaling = r["recall_scaling"]
    assert scaling["events"] == 20 * 60 and scaling["common_words"]["ms_median"] > 0
    rules = r["rule_runs"]
    assert rules["default"]["memory_made"] is False and rules["default"]["memory_bytes"] == 0
    assert rules["same_trajectory"] and rules["ratio"] > 0
