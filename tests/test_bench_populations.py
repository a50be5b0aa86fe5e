"""``agora bench populations`` on a small table: each layer's edges are what its groups give by hand (k(k-1)
for a group of k), both commands and both ticks are measured, and the report says its ratios."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora

from sim.bench.populations import LAYERS, people_table


@pytest.mark.subprocess
def test_the_bench_builds_the_layers_its_table_gives(tmp_path):
    out = agora(tmp_path, "bench", "populations", "--people", "3000", "--repeats", "1", "--ticks", "3", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    table = people_table(3000, 1)
    for name in LAYERS:
        codes = table[name][table[name] >= 0]
        k = np.bincount(codes)
        assert r["layers"][name] == int(np.sum(k * (k - 1))), name
    assert r["edges"] <= sum(r["layers"].values())  # a pair in two layers is one edge
    new, tick = r["new"], r["tick"]
    assert new["people"]["seconds_median"] > 0 and new["baseline_edges"]["seconds_median"] > 0
    assert new["seconds_ratio"] == round(new["people"]["seconds_median"] / new["baseline_edges"]["seconds_median"], 2)
    assert tick["per_layer"]["attempts"] > 0 and tick["baseline_one_value"]["attempts"] > 0
    assert tick["target_met"] == (tick["tick_ratio"] <= 1.1)
