"""Nothing on the loop (issue 45): a request whose work grows with N never stops the server answering.

Before the fix ``POST /messages`` with ``seeds: "degree-discount:100000"`` froze the whole server (``/healthz``
too) for 13.8 s on a 100,000-agent world, and the same selection as an intervention made one step take 10.4 s
with nothing answered meanwhile: the seed method ran on the event loop. It runs in a worker thread now, with
the world's ticks held; ``GET /healthz`` keeps answering in well under a second.
"""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import pytest
from conftest import agora
from test_api import WAIT, Server

AGENTS = 100_000


def _health_while(server: Server, work: threading.Thread) -> list[float]:
    """Seconds each ``GET /healthz`` took while ``work`` ran (started here)."""
    took = []
    work.start()
    while work.is_alive():
        con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        t0 = time.perf_counter()
        con.request("GET", "/healthz")
        resp = con.getresponse()
        resp.read()
        con.close()
        took.append(time.perf_counter() - t0)
        assert resp.status == 200
    work.join()
    return took


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_heavy_seed_method_leaves_the_server_answering(tmp_path: Path) -> None:
    world = str(tmp_path / "big.db")
    done = agora(tmp_path, "new", world, "--agents", str(AGENTS), "--seed", "5")
    assert done.returncode == 0, done.stderr
    server = Server(tmp_path, world, "--metrics")
    try:
        answers: list = []

        def inject() -> None:
            answers.append(
                server.call("POST", "/api/v1/messages", {"text": "big", "seeds": f"degree-discount:{AGENTS}"})
            )

        took = _health_while(server, threading.Thread(target=inject))
        status, body, _ = answers[0]
        assert status == 201, body
        # The selection takes seconds here: the health checks ran beside it, each answered promptly.
        assert len(took) >= 3, f"the injection ended before the server was asked anything ({took})"
        assert max(took) < 1.0, f"/healthz waited {max(took):.2f} s while a seed method ran"

        status, body, _ = server.call("POST", "/api/v1/interventions", {"action": f"block:degree-discount:{AGENTS}"})
        assert status == 201, body
        steps: list = []
        took = _health_while(server, threading.Thread(target=lambda: steps.append(server.call("POST", "/api/v1/step"))))
        assert steps[0][0] == 200, steps[0][1]
        assert len(took) >= 3, f"the step ended before the server was asked anything ({took})"
        assert max(took) < 1.0, f"/healthz waited {max(took):.2f} s while an intervention's selection ran"
        status, entries, _ = server.call("GET", "/api/v1/interventions")
        assert status == 200 and entries["interventions"][0]["applied"], entries
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=WAIT)
        server.stderr.close()
