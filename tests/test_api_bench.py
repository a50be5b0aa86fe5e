"""``agora bench api``: it runs and prints one JSON object with its medians beside its yardsticks (no timing
is asserted: the machine is shared; the figures are for reading, see docs/api.md)."""

from __future__ import annotations

import json

import pytest
from conftest import agora


@pytest.mark.subprocess
def test_bench_api_prints_medians_beside_its_yardsticks(tmp_path):
    res = agora(
        tmp_path,
        "bench",
        "api",
        "--agents",
        "300",
        "--requests",
        "20",
        "--clients",
        "8",
        "--seconds",
        "1",
        "--rounds",
        "1",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for case in ("agora_keepalive", "agora_new_connection", "starlette_keepalive", "starlette_nagle_keepalive"):
        assert (
            out[case]["requests"] > 0 and out[case]["ms_median"] > 0 and out[case]["ms_p90"] >= out[case]["ms_median"]
        )
    assert out["target_ms"] == 2.0 and isinstance(out["agora_keepalive_within_target"], bool)
    assert out["listener_protocol_is_tcp"] is True and out["accepted_socket_nodelay"] is True
    assert out["server_rss_mb"] > 0
    inj = out["injections"]
    for case in ("agora_durable", "agora_applied", "starlette"):
        assert inj[case]["injections"] > 0 and inj[case]["per_second"] > 0
        assert inj[case]["ms_p95"] >= inj[case]["ms_median"] > 0
    assert inj["clients"] == 8 and inj["target_per_second"] == 1000.0
    assert isinstance(inj["durable_within_target"], bool)
    assert set(inj["durability_adds_ms"]) == {"median", "p95"}


def test_bench_api_refuses_a_bad_client_count(tmp_path):
    res = agora(tmp_path, "bench", "api", "--clients", "-3")
    assert res.returncode == 2 and "--clients -3 is out of range" in res.stderr
