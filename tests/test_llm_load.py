"""The LLM layer under load with a faulty server: a third of the requests fail (400, 429, 500, 503,
timeouts, malformed and empty bodies, answers off the schema, dropped connections), and a long run of the
``llm`` model with texts still completes with every request accounted for, nothing lost or counted twice,
offline text wherever the server failed, and results that repeat exactly when they should. The API key
never reaches a file the program writes, nor its output.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import notified

from agora_testing.fakeserver import FakeChatServer
from sim.engine.simulation import Simulation
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.store.create import synthetic_world

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-agora-load-SECRET-5e1d"
#: Every fault the local server can inject.
FAULTS = ("400", "429", "500", "503", "timeout", "malformed", "empty", "bad_content", "drop")
#: The client's name for each failed call (bad_content is answered, then fails the decision schema).
ERROR_OF = {
    "400": "http 400",
    "429": "http 429",
    "500": "http 500",
    "503": "http 503",
    "timeout": "timeout",
    "malformed": "malformed body",
    "empty": "malformed body",
    "drop": "connection",
}
#: Phrases only the server writes: an offline fallback never holds them.
SERVER_WORDS = ("Here is my take", "makes me think", "I cannot answer that in JSON")


class ThirdFails:
    """A fault plan: about a third of the requests fail, with a fault drawn from ``faults``. Which request
    fails depends only on the seed, the prompt and how many times that prompt came before — not on the
    order requests arrive in — so retries can succeed and two runs with the same prompts meet the same
    faults."""

    def __init__(self, seed: int, faults: tuple[str, ...] = FAULTS, share: float = 1 / 3) -> None:
        self.seed, self.faults, self.share = seed, faults, share
        self.seen: Counter[str] = Counter()

    def __call__(self, n: int, body: dict) -> str:
        prompt = json.dumps(body.get("messages"), sort_keys=True)
        k = self.seen[prompt]
        self.seen[prompt] += 1
        h = hashlib.blake2b(f"{self.seed}:{k}:{prompt}".encode(), digest_size=8).digest()
        u = int.from_bytes(h, "little") / 2**64
        return "ok" if u >= self.share else self.faults[int(u / self.share * len(self.faults))]


def accounted(st: dict) -> None:
    assert st["requests"] == (
        st["offline"]
        + st["cache_hits"]
        + st["answered"]
        + st["circuit_open"]
        + st["gave_up"]
        + st["cancelled"]
        + st["in_flight"]
    ), st
    assert st["calls"] == st["answered"] + st["failures"], st
    assert st["fallbacks"] == st["circuit_open"] + st["gave_up"] + st["malformed"] + st["cancelled"], st


class Ledger:
    """Wraps a service's ``ask``: every request it accepted must be delivered exactly once."""

    def __init__(self, service: LLMService) -> None:
        self.accepted: set[int] = set()
        self.delivered: Counter[int] = Counter()
        self.sources: Counter[str] = Counter()
        self.decisions = 0  # accepted requests with a schema: the llm model's decisions (texts have none)
        self._n = 0
        inner = service.ask

        def ask(messages, on_done, **kw):
            self._n += 1
            token = self._n

            def done(result):
                self.delivered[token] += 1
                self.sources[result.source] += 1
                on_done(result)

            ok = inner(messages, done, **kw)
            if ok:
                self.accepted.add(token)
                self.decisions += kw.get("parse") is not None
            return ok

        service.ask = ask  # type: ignore[method-assign]

    def check(self) -> None:
        assert set(self.delivered) == self.accepted, "a request was lost, or answered without being asked"
        assert all(v == 1 for v in self.delivered.values()), "a request was delivered twice"


def make_sim(w, url: str, **settings) -> Simulation:
    base = {
        "base_urls": url,
        "retries": 2,
        "backoff": 0.005,
        "max_backoff": 0.02,
        "timeout": 0.25,
        "calls_per_tick": 16,
        "texts_per_tick": 8,
        "concurrency": 16,
        "breaker_failures": 4,
        "breaker_cooldown": 0.05,
    }
    base.update(settings)
    return Simulation(w, llm=LLMService(w, LLMConfig.resolve(base, env={"OPENAI_API_KEY": KEY})))


def inject(sim: Simulation, i: int):
    return sim.inject(
        f"Breaking news number {i}",
        topics=["ai", "science"],
        seeds="random:8",
        model="llm",
        params={"llm_agents": 4, "rule_params": "p=0.05"},
        seed=i,
    )


async def test_a_long_run_against_a_server_failing_a_third_of_requests_accounts_for_everything():
    t0 = time.perf_counter()
    # The client's timeout must hold every answer the server gives, however loaded the machine (an answer
    # counted as a timeout by the client but as its fault by the server would break the accounting below),
    # and the server's "timeout" fault must outlast it: 6 s and 15 s (3 s failed once at a load of 14 on 2 cores:
    # three answers the server sent were timeouts to the client). A wider concurrency keeps the calls that
    # wait out those 6 s from queueing the others.
    srv = await FakeChatServer(latency=0.002, plan=ThirdFails(seed=11), retry_after=0.01, hang=15.0).start()
    try:
        w = synthetic_world("load", 2000, avg_degree=8, seed=5)
        sim = make_sim(w, srv.url, timeout=6.0, concurrency=64)
        ledger = Ledger(sim.llm)
        sessions = []
        # A message every 10 ticks until the run has asked its 600 requests, then 40 ticks more: a loaded machine
        # answers later (a decision waits in its session), so the run goes on until the count is reached rather
        # than stopping at a fixed tick (100 ticks asked only 434 at a load of 6); a bound only on a hang.
        tick, enough = 0, None
        while enough is None or tick < enough + 40:
            if enough is None and tick % 10 == 0:
                sessions.append(inject(sim, tick))
            await sim.step()
            await asyncio.sleep(0.004)
            tick += 1
            if enough is None and sim.llm.asked >= 600:
                enough = tick
            assert tick < 2000, f"{sim.llm.asked} requests after {tick} ticks"
        await sim.aclose(120)  # what is still in flight lands (three 6 s timeouts in a row at most); a hang bound
    finally:
        await srv.stop()
    st = sim.llm.stats()
    # Every request is accounted for; none was still running or had to be cancelled.
    accounted(st)
    assert st["in_flight"] == 0 and st["cancelled"] == 0 and sim.llm.in_flight == 0
    assert st["failures"] == st["retries"] + st["gave_up"]
    assert st["requests"] == sim.llm.asked == len(ledger.accepted) >= 600
    ledger.check()
    # The server saw every call, and the client named every fault it met.
    assert st["calls"] == srv.received == sum(srv.counts.values())
    failed = srv.received - srv.counts["ok"] - srv.counts["bad_content"]
    assert st["failures"] == failed and st["answered"] == srv.counts["ok"] + srv.counts["bad_content"]
    errors = Counter()
    for fault, kind in ERROR_OF.items():
        errors[kind] += srv.counts[fault]
    assert {k: v for k, v in st["errors"].items() if k != "malformed answer"} == {k: v for k, v in errors.items() if v}
    assert st["errors"].get("malformed answer", 0) == st["malformed"]
    assert all(srv.counts[f] > 0 for f in FAULTS), srv.counts
    share = (srv.received - srv.counts["ok"]) / srv.received
    assert 0.25 < share < 0.42, share
    assert st["gave_up"] > 0 and st["retries"] > 0 and st["malformed"] > 0 and st["fallbacks"] > 0
    # Fallbacks wrote offline text; every decision asked was taken, or waits in its session for the next round.
    assert ledger.sources["offline"] == st["fallbacks"] and ledger.sources["llm"] == st["answered"] - st["malformed"]
    posts = w.posts.recent(limit=10**6)
    assert len(posts) == len(w.posts) and all(p["text"].strip() for p in posts)
    offline = [p for p in posts if p["written_by"] == "offline"]
    assert offline and not any(word in p["text"] for p in offline for word in SERVER_WORDS)
    assert any(p["written_by"] == "llm" for p in posts)
    decided = 0
    for s in sessions:
        assert s.status in ("running", "completed"), (s.id, s.status, s.error)
        waiting = {int(a) for a, _ in s.model.inbox}
        assert set(np.flatnonzero(s.state == s.state_names.index("deciding")).tolist()) == waiting
        decided += sum(s.model.answers.values()) + len(waiting)
    assert decided == ledger.decisions
    assert time.perf_counter() - t0 < 600  # only a bound on a hang: a loaded machine is slower, not wrong


async def lockstep_run(seed: int, ticks: int = 24):
    """A run where each tick waits for every answer: with the fault plan keyed on prompts, it must repeat
    exactly (faults without timeouts, so a slow machine cannot turn an answer into a timeout)."""
    plan = ThirdFails(seed=seed, faults=tuple(f for f in FAULTS if f != "timeout"))
    srv = await FakeChatServer(latency=0.001, plan=plan, retry_after=0.01).start()
    try:
        w = synthetic_world("repeat", 1500, avg_degree=8, seed=9)
        sim = make_sim(w, srv.url, timeout=10.0, breaker_failures=1000)
        ledger = Ledger(sim.llm)
        sessions = []
        for tick in range(ticks):
            if tick % 6 == 0:
                sessions.append(inject(sim, tick))
            await sim.step()
            deadline = time.monotonic() + 20
            while sim.llm.in_flight and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
        await sim.aclose(10)
    finally:
        await srv.stop()
    ledger.check()
    st = sim.llm.stats()
    accounted(st)
    keep = (
        "requests",
        "calls",
        "answered",
        "failures",
        "retries",
        "gave_up",
        "malformed",
        "fallbacks",
        "tokens_in",
        "tokens_out",
        "errors",
        "cache_hits",
        "over_budget",
    )
    return {
        "stats": {k: st[k] for k in keep},
        "server": dict(srv.counts),
        "adopted": [s.adopted_at.copy() for s in sessions],
        "states": [s.state.copy() for s in sessions],
        "posts": [(p["tick"], p["agent"], p["kind"], p["text"], p["written_by"]) for p in w.posts.recent(limit=10**6)],
    }


async def test_with_faults_keyed_on_prompts_a_run_repeats_exactly():
    a = await lockstep_run(3)
    b = await lockstep_run(3)
    assert a["stats"]["requests"] >= 150 and a["stats"]["failures"] > 0 and a["stats"]["gave_up"] > 0
    assert a["stats"] == b["stats"] and a["server"] == b["server"]
    assert all(np.array_equal(x, y) for x, y in zip(a["adopted"], b["adopted"]))
    assert all(np.array_equal(x, y) for x, y in zip(a["states"], b["states"]))
    assert a["posts"] == b["posts"]
    assert Counter(p[4] for p in a["posts"])["offline"] > 0


# -- the key -------------------------------------------------------------------------------------------------


def files_holding(root: Path, needle: bytes) -> list[str]:
    hits = []
    for folder, _dirs, files in os.walk(root):
        for f in files:
            path = Path(folder) / f
            with open(path, "rb") as fh:
                if needle in fh.read():
                    hits.append(str(path))
    return hits


@pytest.mark.subprocess
@pytest.mark.usefixtures("keep_notifications")
def test_the_key_is_in_no_file_log_audit_row_or_output_after_a_faulty_run(tmp_path, monkeypatch, capfd):
    """A run with a key set against the failing server, then everything that writes files: the world file
    (with its audit rows, cache and posts), snapshots in the saves folder, a loaded copy, exports, and the
    terminal UI's log and saved snapshot. The key is in none of them, nor on stdout or stderr."""
    from sim.cli.main import main

    saves = tmp_path / "saves"
    saves.mkdir()
    monkeypatch.setenv("AGORA_SAVES", str(saves))
    srv = FakeChatServer(latency=0.002, plan=ThirdFails(seed=5), retry_after=0.01, hang=0.5).start_in_thread()
    try:
        env = {**os.environ, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": srv.url}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        world = str(saves / "w.db")
        outputs = []
        new = subprocess.run(
            [sys.executable, "-m", "sim", "new", world, "--agents", "800", "--seed", "2"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert new.returncode == 0, new.stderr
        # The real program: a run of the llm model with texts, a third of its requests failing.
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "sim",
                "run",
                world,
                "--inject",
                "Leaked keys are bad news",
                "--model",
                "llm",
                "--steps",
                "12",
                "--json",
                "--llm",
                "timeout=0.3",
                "--llm",
                "retries=1",
                "--llm",
                "backoff=0.01",
                "--llm",
                "breaker_failures=3",
                "--llm",
                "breaker_cooldown=0.05",
                "--llm-wait",
                "5",
            ],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        outputs += [run.stdout, run.stderr, new.stdout, new.stderr]
        llm = json.loads(run.stdout)["llm"]
        assert llm["mode"] != "offline" and llm["calls"] > 0 and llm["failures"] > 0 and llm["fallbacks"] > 0
        # In this process (faster), the rest of what writes files, with the key in the environment.
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        for args in (
            ["interview", world, "3", "What about the news?", "--json", "--llm", "timeout=0.3"],
            ["llm", world, "--set", "calls_per_tick=5", "--ping", "--json"],
            ["save", world, str(saves / "w.snap")],
            ["load", str(saves / "w.snap"), str(saves / "copy.db")],
            ["export", world, str(tmp_path / "agents.csv")],
            ["audit", world, "--json"],
            ["audit", world],
        ):
            assert main(args) == 0, args
        asyncio.run(_tui_session(world))
    finally:
        srv.stop_thread()
    captured = capfd.readouterr()
    outputs += [captured.out.encode(), captured.err.encode()]
    assert not [o for o in outputs if KEY.encode() in o], "the key was printed"
    assert files_holding(tmp_path, KEY.encode()) == []
    assert files_holding(tmp_path, b"SECRET") == []
    assert srv.authorization == {f"Bearer {KEY}"}  # it was sent, to the server, and only there
    names = {p.name for p in saves.iterdir()}
    assert {"w.db", "w.snap", "copy.db"} <= names and any(n.endswith(".snap") and n != "w.snap" for n in names)


async def _tui_session(world: str) -> None:
    """The terminal UI with the key: a few ticks against the failing server, a snapshot saved, the log
    checked."""
    from textual.widgets import Input, Log

    from tui.app import AgoraApp

    app = AgoraApp(world)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 30)
        app.sim.inject("the UI's message", model="llm", seeds="random:6")
        for _ in range(4):
            await app.sim.step()
            await asyncio.sleep(0.05)
        await pilot.press("s")
        app.screen.query_one("#snapshot-name", Input).value = "from-the-ui"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.press("1")
        await pilot.pause()
        lines = app._views["dashboard"].query_one("#log", Log).lines
        assert lines and not any(KEY in line or "SECRET" in line for line in lines)
        assert all(KEY not in m for m in notified(app))
        await app.sim.checkpoint()


@pytest.mark.parametrize("fault", FAULTS)
async def test_each_fault_alone_is_accounted_for(fault):
    """Every fault on its own, on every request, through the client: counted where it belongs."""
    srv = await FakeChatServer(plan=lambda n, body: fault, retry_after=0.01, hang=6.0).start()
    from sim.llm.client import LLMClient

    # Where the fault is a timeout the server holds each request 6 s and the client gives up after 2 s (the
    # server still reads every request in time on a loaded machine); elsewhere a generous timeout, so that a
    # slow answer is never counted as a timeout instead of its fault.
    timeout = 2.0 if fault == "timeout" else 10.0
    cfg = LLMConfig.resolve(
        {
            "base_urls": srv.url,
            "retries": 1,
            "backoff": 0.005,
            "timeout": timeout,
            "breaker_failures": 100,
            "cache": False,
        },
        env={"OPENAI_API_KEY": KEY},
    )
    client = LLMClient(cfg)
    try:
        from sim.llm.prompts import parse_decision

        results = await asyncio.gather(
            *[
                client.complete(
                    [{"role": "user", "content": f'question {i}: answer {{"action": ...}}'}],
                    parse=parse_decision,
                    fallback=lambda: "offline text",
                )
                for i in range(6)
            ]
        )
    finally:
        await client.aclose()
        await srv.stop()
    st = client.stats.to_dict()
    accounted(st)
    assert st["requests"] == 6 and st["in_flight"] == 0
    if fault == "bad_content":
        assert st["answered"] == 6 and st["malformed"] == 6 and st["failures"] == 0
    elif fault == "400":
        assert st["failures"] == 6 and st["retries"] == 0 and st["gave_up"] == 6
    else:
        assert st["failures"] == 12 and st["retries"] == 6 and st["gave_up"] == 6
        assert st["errors"] == {ERROR_OF[fault]: 12}
    assert all(r.source == "offline" and r.text == "offline text" for r in results)
    assert st["calls"] == srv.received
