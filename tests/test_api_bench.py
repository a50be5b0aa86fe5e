"""``agora bench api``: it runs and prints one JSON object with its medians beside its yardsticks (no timing
is asserted: the machine is shared; the figures are for reading, see docs/api.md)."""

from __future__ import annotations

import json

from conftest import agora


def test_bench_api_prints_medians_beside_its_yardsticks(tmp_path):
    res = agora(tmp_path, "bench", "api", "--agents", "300", "--requests", "20", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for case in ("agora_keepalive", "agora_new_connection", "starlette_keepalive", "starlette_nagle_keepalive"):
        assert (
            out[case]["requests"] > 0 and out[case]["ms_median"] > 0 and out[case]["ms_p90"] >= out[case]["ms_median"]
        )
    assert out["target_ms"] == 2.0 and isinstance(out["agora_keepalive_within_target"], bool)
    assert out["listener_protocol_is_tcp"] is True and out["accepted_socket_nodelay"] is True
    assert out["server_rss_mb"] > 0
