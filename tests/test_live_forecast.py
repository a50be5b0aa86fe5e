"""Forecasts of a live world (issue 49): ``POST /api/v1/forecasts`` against the real ``agora serve`` in a
subprocess, and ``Simulation.forecast`` on the real live world in this process.

A forecast branches the present and continues forks of it in the background: the world's tick and sessions
are untouched, a running world runs on, ``/healthz`` keeps answering, and a ``forecast`` event says when it
is done. Bad requests are refused in one sentence before any job exists."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import threading
import time

import pytest
from test_api import WAIT, Server, _read_events, world_file  # noqa: F401 - world_file is a fixture

import sim
from sim.runs.forecast import Forecast, run_forecast

ARMS = {"none": [], "block": ["block:degree:50"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory, world_file):  # noqa: F811
    folder = tmp_path_factory.mktemp("forecast")
    shutil.copy(world_file, folder / "w.db")
    s = Server(folder, "w.db", "--metrics")
    status, body, _ = s.call("POST", "/api/v1/messages", {"text": "rumour", "model": "ic", "seeds": "random:20"})
    assert status == 201, body
    assert s.call("POST", "/api/v1/step", {"ticks": 2})[0] == 200
    yield s
    s.stop()


def _until_done(server: Server, job_id: str) -> dict:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status, job, _ = server.call("GET", f"/api/v1/forecasts/{job_id}")
        assert status == 200, job
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError(f"forecast {job_id} did not finish")


def _world(server: Server) -> tuple[int, list]:
    world = server.call("GET", "/api/v1/world")[1]
    sessions = server.call("GET", "/api/v1/sessions")[1]["sessions"]
    return world["tick"], [(s["id"], s["status"], s["reached"]) for s in sessions]


def test_a_forecast_is_posted_followed_and_leaves_the_world_as_it_was(server):
    before = _world(server)
    status, job, headers = server.call(
        "POST", "/api/v1/forecasts", {"runs": 12, "ticks": 6, "arms": ARMS, "seed": 3, "kernel": "engine"}
    )
    assert status == 202, job
    assert headers["location"] == f"/api/v1/forecasts/{job['id']}"
    assert job["state"] == "running" and job["branched_at"] == before[0] and job["result"] is None
    assert job["request"]["arms"] == ARMS and job["request"]["runs"] == 12
    done = _until_done(server, job["id"])
    assert done["state"] == "done" and done["progress"] == 1.0 and done["error"] is None, (
        done["error"],
        server.errors(),
    )
    result = done["result"]
    assert result["branched_at"] == before[0] and result["runs"] == 12
    assert set(result["arms"]) == {"none", "block"}
    for arm in result["arms"].values():
        assert arm["failed"] == 0 and arm["reached"]["median"] is not None and len(arm["reached"]["ci90"]) == 2
    assert "block" in result["paired"]
    assert _world(server) == before  # a forecast continues forks: the world is untouched
    listed = server.call("GET", "/api/v1/forecasts")[1]["forecasts"]
    assert [j["id"] for j in listed][-1] == job["id"] and "result" not in listed[-1]


@pytest.mark.parametrize(
    ("body", "says", "code"),
    [
        ({"runs": 5, "ticks": 0}, "ticks must be from 1 to 100,000", 400),
        ({"runs": 5, "ticks": 3, "session": 999}, "no session 999", 404),  # no such running session
        ({"runs": 5, "ticks": 3, "arms": ["x=bogus:1"]}, "bogus", 400),
        ({"runs": 5, "ticks": 3, "arms": ["x=set:q=1"]}, "ic has no parameter 'q'", 422),  # the session's model
        ({"runs": 10_001, "ticks": 3}, "10,000", 400),
        ({"runs": 5, "ticks": 3, "posterior": "/etc/passwd"}, "posterior", 400),
        ({"runs": 5}, "horizon", 400),
        ({"runs": 5, "ticks": 3, "colour": 1}, "unknown field", 400),
    ],
)
def test_bad_requests_are_refused_in_one_sentence_and_change_nothing(server, body, says, code):
    before = _world(server)
    jobs = len(server.call("GET", "/api/v1/forecasts")[1]["forecasts"])
    status, answer, _ = server.call("POST", "/api/v1/forecasts", body)
    assert status == code, answer
    assert says in answer["error"] and "\n" not in answer["error"]
    assert _world(server) == before
    assert len(server.call("GET", "/api/v1/forecasts")[1]["forecasts"]) == jobs
    assert server.call("GET", "/api/v1/forecasts/nope")[0] == 404
    assert (
        server.call("POST", "/api/v1/forecasts", {"runs": 5, "ticks": 3}, token="viewer-token-0123456789abcdef")[0]
        == 403
    )


def test_a_finished_forecast_is_said_on_the_event_stream(server):
    subscribed = threading.Event()
    got: dict[str, list] = {}

    def listen() -> None:
        got["events"] = _read_events(server, lambda ev: any(e["type"] == "forecast" for e in ev), subscribed=subscribed)

    t = threading.Thread(target=listen)
    t.start()
    assert subscribed.wait(WAIT)
    status, job, _ = server.call("POST", "/api/v1/forecasts", {"runs": 4, "ticks": 3, "seed": 1})
    assert status == 202, job
    t.join(WAIT)
    said = [e for e in got["events"] if e["type"] == "forecast"]
    assert said and said[0]["id"] == job["id"] and said[0]["state"] == "done"
    assert said[0]["branched_at"] == job["branched_at"]


def test_a_running_world_runs_on_and_the_server_answers_during_forecasts(server):
    assert server.call("POST", "/api/v1/run", {"ticks_per_second": 20})[0] == 200
    try:
        body = {"runs": 2000, "ticks": 40, "arms": ARMS, "kernel": "engine"}
        first = server.call("POST", "/api/v1/forecasts", body)
        second = server.call("POST", "/api/v1/forecasts", body)
        assert first[0] == 202 and second[0] == 202, (first, second)
        third = server.call("POST", "/api/v1/forecasts", {"runs": 2, "ticks": 2})
        assert third[0] == 409 and "running" in third[1]["error"], third
        took = []
        for _ in range(10):
            con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
            t0 = time.perf_counter()
            con.request("GET", "/healthz")
            res = con.getresponse()
            res.read()
            con.close()
            took.append(time.perf_counter() - t0)
            assert res.status == 200
            time.sleep(0.1)
        assert max(took) < 1.0, f"/healthz waited {max(took):.2f} s during two forecasts"
        branched = first[1]["branched_at"]
        time.sleep(0.3)
        assert server.call("GET", "/api/v1/world")[1]["tick"] > branched  # the world ran on
        assert server.call("GET", f"/api/v1/forecasts/{first[1]['id']}")[1]["state"] == "running"
    finally:
        assert server.call("POST", "/api/v1/pause")[0] == 200


def test_the_live_simulation_forecasts_what_run_forecast_gives_on_a_fork(tmp_path, world_file):  # noqa: F811
    shutil.copy(world_file, tmp_path / "w.db")
    with sim.open_world(str(tmp_path / "w.db")).simulation() as live:
        live.inject("rumour", model="ic", seeds="random:20")
        live.step(2)
        tick = live.tick
        fields = {"runs": 4, "ticks": 4, "arms": ARMS, "seed": 11, "kernel": "engine", "workers": 1}
        got = live.forecast(**fields)
        assert live.tick == tick and got.branched_at == tick
        host = live.host
        fork = live._call(_fork(host))
        want = asyncio.run(run_forecast(fork, host.registry, Forecast.parse(fields)))
        a, b = got.to_dict(), want.to_dict()
        a.pop("seconds"), b.pop("seconds")
        assert a == b
        with pytest.raises(sim.BadParameterError, match="10,000"):
            live.forecast(runs=20_000, ticks=2)


async def _fork(host):
    async with host.sim.lock:
        return host.world.fork()


def test_a_live_forecast_is_checked_once(tmp_path, world_file, monkeypatch):  # noqa: F811
    """Its checks (arms, interventions, a posterior file read) run when it is asked for and not again when it
    runs (issue 74: before, twice)."""
    import sim.runs.forecast as forecast

    made = []
    init = forecast._Branches.__init__

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        made.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(forecast._Branches, "__init__", counted)
    shutil.copy(world_file, tmp_path / "w.db")
    with sim.open_world(str(tmp_path / "w.db")).simulation() as live:
        live.inject("rumour", model="ic", seeds="random:20")
        live.step(2)
        got = live.forecast(runs=4, ticks=3, arms=ARMS, seed=3, kernel="engine", workers=1)
        assert set(got.arms) == set(ARMS)
    assert len(made) == 1
