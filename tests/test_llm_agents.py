"""LLM agents in a running simulation: the llm model, texts, interviews, budgets, replays, persistence.

A real chat-completions server on 127.0.0.1 (``agora_testing.fakeserver``) stands in for the LLM.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from inprocess import run_cli

from agora_testing.fakeserver import FakeChatServer
from sim.engine.simulation import Simulation
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.store.create import synthetic_world

KEY = "sk-agora-test-SECRET-91c2"


def world(n: int = 1500, seed: int = 7):
    return synthetic_world("llm", n, avg_degree=8, seed=seed)


def online(w, url: str, **settings) -> Simulation:
    base = {"base_urls": url, "backoff": 0.01, "timeout": 5.0}
    base.update(settings)
    return Simulation(w, llm=LLMService(w, LLMConfig.resolve(base, env={"OPENAI_API_KEY": KEY})))


async def run_until_done(sim: Simulation, limit: int = 3000, pause: float = 0.0) -> int:
    ticks = 0
    while not sim.idle and ticks < limit:
        await sim.step()
        ticks += 1
        if pause:
            await asyncio.sleep(pause)
    return ticks


async def until(condition, seconds: float = 60.0) -> bool:
    """Wait for ``condition()`` (answers landing), polling; the deadline only bounds a hang."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def accounted(st: dict) -> None:
    assert st["requests"] == (
        st["offline"]
        + st["cache_hits"]
        + st["answered"]
        + st["circuit_open"]
        + st["gave_up"]
        + st["cancelled"]
        + st["in_flight"]
    )
    assert st["calls"] == st["answered"] + st["failures"]


@pytest.fixture
async def server():
    srv = await FakeChatServer(latency=0.005).start()
    yield srv
    await srv.stop()


async def test_offline_the_llm_model_adopts_exactly_as_its_rule_model():
    a, b = world(), world()
    sa, sb = Simulation(a), Simulation(b)
    assert sa.llm.mode == "offline"
    x = sa.inject("news", topics=["ai"], seeds="random:8", model="viral", params={"p": 0.2}, seed=4)
    y = sb.inject("news", topics=["ai"], seeds="random:8", model="llm", params={"rule_params": "p=0.2"}, seed=4)
    await run_until_done(sa)
    await run_until_done(sb)
    assert y.status == "completed" and y.reached > 8
    assert np.array_equal(x.adopted_at, y.adopted_at)
    assert np.array_equal(x.adopted_from, y.adopted_from)
    assert set(np.unique(y.state)) <= {0, 1}


async def test_online_decisions_come_from_the_llm_and_every_request_is_accounted_for(server):
    w = world()
    sim = online(w, server.url, calls_per_tick=20)
    s = sim.inject(
        "A new AI model writes poems", topics=["ai"], seeds="random:6", model="llm", params={"llm_agents": 6}
    )
    await run_until_done(sim, pause=0.002)
    await sim.aclose(60)
    assert s.status == "completed"
    counts = {name: int((s.state == i).sum()) for i, name in enumerate(s.state_names)}
    assert counts["deciding"] == 0
    assert counts["replied"] > 0 and counts["liked"] > 0
    answers = s.model.answers
    assert answers["llm"] > 0 and answers["fallback"] == 0
    st = sim.llm.stats()
    accounted(st)
    assert st["calls"] == server.received == st["answered"]
    assert st["fallbacks"] == 0 and st["in_flight"] == 0
    replies = [
        p
        for p in w.posts.recent(message_id=s.message_id, limit=10_000)
        if p["kind"] == "reply" and p["written_by"] == "llm"
    ]
    assert replies and all(p["text"] for p in replies)
    # Every replied agent is among the agents who posted a reply through the LLM, or wrote one after adopting.
    replied = set(np.flatnonzero(s.state == 2).tolist())
    assert {p["agent"] for p in replies} <= replied | set(np.flatnonzero(s.adopted_at >= 0).tolist())


async def test_the_tick_budget_caps_requests_and_a_tick_never_waits_for_answers():
    srv = await FakeChatServer(latency=60.0).start()  # no answer lands while the test runs, however slow the machine
    try:
        w = world()
        sim = online(w, srv.url, calls_per_tick=3, texts_per_tick=5)
        sim.inject("slow answers", seeds="random:20", model="llm", params={"llm_agents": 50, "rule_params": "p=0.5"})
        before = 0
        for _ in range(4):
            await sim.step()
            st = sim.llm.stats()
            assert st["asked"] - before <= 3
            before = st["asked"]
        st = sim.llm.stats()
        # Four ticks ran while every answer (60 s away) was still in flight.
        assert st["asked"] >= 9 and st["answered"] == 0 and st["over_budget"] > 0
        assert sim.llm.in_flight >= 3
        cancelled = await sim.llm.drain(0)
        assert cancelled >= 3
        accounted(sim.llm.stats())
    finally:
        await srv.stop()


async def test_a_replay_with_the_cache_is_identical_and_sends_nothing(server):
    first = world()
    sim = online(first, server.url, calls_per_tick=10)
    a = sim.inject("Replay me", topics=["science"], seeds="random:6", model="llm", params={"llm_agents": 5}, seed=1)
    await run_until_done(sim, pause=0.003)
    await sim.aclose(60)
    assert sim.llm.stats()["answered"] > 20
    await server.stop()  # from here on any request would fail and show up in the counts
    for _ in range(2):
        again = world()
        again.llm_cache = first.llm_cache
        replay = online(again, server.url, calls_per_tick=10, retries=0)
        b = replay.inject(
            "Replay me", topics=["science"], seeds="random:6", model="llm", params={"llm_agents": 5}, seed=1
        )
        await run_until_done(replay)
        await replay.aclose()
        st = replay.llm.stats()
        assert st["calls"] == 0 and st["fallbacks"] == 0 and st["cache_hits"] > 20
        assert np.array_equal(a.state, b.state) and np.array_equal(a.adopted_at, b.adopted_at)
        assert [
            (p["tick"], p["agent"], p["kind"], p["text"])
            for p in first.posts.rows() and first.posts.recent(limit=10**6)
        ] == [(p["tick"], p["agent"], p["kind"], p["text"]) for p in again.posts.recent(limit=10**6)]


async def test_malformed_answers_fall_back_to_the_rule_decision():
    srv = await FakeChatServer(plan=lambda n, body: "bad_content").start()
    try:
        w = world()
        sim = online(w, srv.url)
        s = sim.inject("x", seeds="random:6", model="llm", params={"llm_agents": 6})
        await run_until_done(sim, pause=0.002)
        await sim.aclose(60)
    finally:
        await srv.stop()
    st = sim.llm.stats()
    decisions = s.model.answers
    assert decisions["llm"] == decisions["cache"] == 0 and decisions["fallback"] > 0
    assert st["malformed"] >= decisions["fallback"]
    assert set(np.unique(s.state)) <= {0, 1}  # the rule's adoptions only: reposts
    accounted(st)


async def test_a_server_that_disappears_mid_run_leaves_nobody_deciding():
    srv = await FakeChatServer(latency=0.005).start()
    w = world(2500)
    sim = online(w, srv.url, retries=1, breaker_failures=2, breaker_cooldown=600, timeout=1.0)
    s = sim.inject("a long run", seeds="random:10", model="llm", params={"llm_agents": 8, "rule_params": "p=0.4"})
    for _ in range(6):
        await sim.step()
        await asyncio.sleep(0.02)
    assert await until(lambda: sim.llm.stats()["answered"] > 0)  # the server answered before it vanished
    await srv.stop()
    await run_until_done(sim, pause=0.002)
    await sim.aclose(60)
    st = sim.llm.stats()
    assert s.status == "completed" and int((s.state == 4).sum()) == 0
    # Requests the server held when it vanished were received but never answered.
    assert 0 < st["answered"] <= srv.received <= st["calls"]
    assert st["circuit_open"] > 0 and sim.llm.mode == "fallback"
    accounted(st)
    assert st["failures"] == st["retries"] + st["gave_up"]


async def test_texts_are_written_offline_without_a_key_and_through_the_llm_within_the_budget(server):
    w = world()
    sim = Simulation(w)
    sim.inject("offline texts", seeds="random:10", model="ic", params={"p": 0.3})
    for _ in range(5):
        m = await sim.step()
        assert m["posts"] == len(w.posts)
    assert 0 < len(w.posts) <= 5 * 20
    assert w.posts.counts()["offline"] == len(w.posts)

    w2 = world()
    sim2 = online(w2, server.url, calls_per_tick=4, texts_per_tick=10)
    sim2.inject("llm texts", seeds="random:10", model="ic", params={"p": 0.3})
    for _ in range(5):
        await sim2.step()
        await asyncio.sleep(0.05)
    await sim2.aclose(60)
    by = w2.posts.counts()
    assert by["llm"] > 0 and by["offline"] > 0
    assert sim2.llm.stats()["calls"] <= 5 * 4


async def test_an_author_writes_a_message_injected_without_text(server):
    w = world()
    sim = Simulation(w)
    s = sim.inject(None, author=int(w.columns["ids"][3]), topics=["climate"], seeds="random:3")
    assert s.message["text"] and "climate" in s.message["text"].lower() and s.message["written_by"] == "offline"
    with pytest.raises(Exception, match="no text"):
        sim.inject("  ", seeds="random:3")

    w2 = world()
    sim2 = online(w2, server.url)
    s2 = sim2.inject("", author=int(w2.columns["ids"][3]), topics=["climate"], seeds="random:3")
    offline_text = s2.message["text"]
    assert offline_text and s2.message["written_by"] == "offline"  # a text at once, before the LLM's lands
    await sim2.step()
    await asyncio.sleep(0.1)
    await sim2.step()
    await sim2.aclose(60)
    assert s2.message["written_by"] == "llm" and s2.message["text"] != offline_text
    assert any(p["kind"] == "post" and p["written_by"] == "llm" for p in w2.posts.recent(message_id=s2.message_id))


async def test_interviews_answer_in_persona_offline_then_online_then_from_the_cache(server):
    w = world()
    sim = Simulation(w)
    persona = w.persona(5)
    ans = await sim.llm.interview(5, "Do you trust the news these days?")
    assert ans.source == "offline" and ans.text
    job = persona.bio.split(" who loves ")[0].split(" ", 1)[1].lower()
    hobby = persona.bio.split(" who loves ")[1].rstrip(".").lower()
    assert job in ans.text.lower() or hobby in ans.text.lower()

    # Without memory the same question is the same prompt: the second answer comes from the cache.
    sim2 = online(world(), server.url, memory="off")
    first = await sim2.llm.interview(5, "Do you trust the news these days?")
    again = await sim2.llm.interview(5, "Do you trust the news these days?")
    await sim2.aclose()
    assert (first.source, again.source) == ("llm", "cache") and first.text == again.text
    assert server.received == 1
    # With memory (the default) the agent remembers being asked: the second prompt holds the first
    # question and answer, so the server is asked again.
    server.keep_bodies = True
    sim3 = online(w, server.url)
    first = await sim3.llm.interview(5, "Do you trust the news these days?")
    again = await sim3.llm.interview(5, "Do you trust the news these days?")
    await sim3.aclose()
    assert (first.source, again.source) == ("llm", "llm") and server.received == 3
    prompt = server.bodies[-1]["messages"][1]["content"]
    assert "an interviewer asked you" in prompt and json.dumps(first.text, ensure_ascii=False) in prompt


async def test_cache_and_posts_persist_in_the_world_file_and_in_snapshots(tmp_path, server):
    from sim.store.snapshot import load_snapshot, save_snapshot
    from sim.store.worldfile import open_world, save_world
    from sim.store.writer import WorldWriter

    path = str(tmp_path / "w.db")
    await save_world(world(), path)
    w = await open_world(path)
    writer = await WorldWriter(path).start()
    sim = Simulation(
        w, writer=writer, llm=LLMService(w, LLMConfig.resolve({"base_urls": server.url}, env={"OPENAI_API_KEY": KEY}))
    )
    sim.inject("persist me", seeds="random:5", model="llm", params={"llm_agents": 4})
    for _ in range(8):
        await sim.step()
        await asyncio.sleep(0.02)
    await sim.aclose(60)
    await sim.checkpoint()
    await writer.close()
    assert len(w.llm_cache) > 0 and len(w.posts) > 0
    again = await open_world(path)
    assert len(again.llm_cache) == len(w.llm_cache) and len(again.posts) == len(w.posts)
    assert again.posts.recent(limit=3) == w.posts.recent(limit=3)
    assert {r[0]: r for r in again.llm_cache.rows()} == {r[0]: r for r in w.llm_cache.rows()}
    snap = str(tmp_path / "w.snap")
    save_snapshot(again, snap)
    back = load_snapshot(snap)
    assert {r[0]: r for r in back.llm_cache.rows()} == {r[0]: r for r in w.llm_cache.rows()}
    assert back.posts.recent(limit=10**6) == again.posts.recent(limit=10**6)


def _agora(*args: str, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORA_LLM_MODEL", "AGORA_LLM_OFFLINE"):
        e.pop(k, None)
    e.update(env or {})
    return run_cli(args, cwd=cwd, env=e, timeout=300)


def test_cli_run_reports_llm_counts_and_the_key_is_never_written_anywhere(tmp_path):
    srv = FakeChatServer(latency=0.005).start_in_thread()
    try:
        assert _agora("new", str(tmp_path / "w.db"), "--agents", "1500").returncode == 0
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": srv.url}
        r = _agora(
            "run",
            str(tmp_path / "w.db"),
            "--inject",
            "hello",
            "--model",
            "llm",
            "--until-done",
            "--json",
            "--llm",
            "calls_per_tick=8",
            env=env,
        )
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        llm = out["llm"]
        assert list(llm)[:7] == ["calls", "failures", "retries", "fallbacks", "cache_hits", "tokens_in", "tokens_out"]
        assert llm["calls"] == srv.received > 0 and llm["mode"] == "online" and llm["posts"] > 0
        assert KEY not in r.stdout and KEY not in r.stderr
        # The same question twice: answered from the world's cache the second time (without agent memory;
        # with it, the agent remembers the first interview and the prompt differs).
        assert _agora("llm", str(tmp_path / "w.db"), "--set", "memory=off", env=env).returncode == 0
        iv = _agora("interview", str(tmp_path / "w.db"), "3", "What do you do for fun?", "--json", env=env)
        assert iv.returncode == 0, iv.stderr
        assert json.loads(iv.stdout)["source"] == "llm"
        again = _agora("interview", str(tmp_path / "w.db"), "3", "What do you do for fun?", "--json", env=env)
        assert json.loads(again.stdout)["source"] == "cache"
        assert _agora("save", str(tmp_path / "w.db"), str(tmp_path / "w.snap"), env=env).returncode == 0
        assert _agora("export", str(tmp_path / "w.db"), str(tmp_path / "a.csv"), env=env).returncode == 0
        assert _agora("llm", str(tmp_path / "w.db"), "--json", env=env).returncode == 0
        for root, _, files in os.walk(tmp_path):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    assert KEY.encode() not in fh.read(), f"the API key was written to {f}"
    finally:
        srv.stop_thread()


def test_cli_llm_commands_refuse_bad_input_with_one_sentence(tmp_path):
    db = str(tmp_path / "w.db")
    assert _agora("new", db, "--agents", "300").returncode == 0
    before = open(db, "rb").read()
    for args, words in (
        (("llm", db, "--set", "api_key=sk-x"), "never stored"),
        (("llm", db, "--set", "concurrency=0"), "concurrency"),
        (("llm", db, "--set", "nonsense=1"), "unknown LLM setting"),
        (("run", db, "--steps", "1", "--llm", "timeout=-1"), "timeout"),
        (("interview", db, "999999", "hi"), "no agent has id"),
        (("interview", db, "3", "  "), "question is empty"),
    ):
        r = _agora(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert open(db, "rb").read() == before
    ok = _agora("llm", db, "--set", "calls_per_tick=5", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["settings"]["calls_per_tick"] == 5
    shown = json.loads(_agora("llm", db, "--json").stdout)
    assert shown["settings"]["calls_per_tick"] == 5 and shown["effective"]["mode"] == "offline"
    iv = _agora("interview", db, "3", "Who are you?", "--json")
    assert iv.returncode == 0 and json.loads(iv.stdout)["source"] == "offline"


def test_an_offline_run_never_imports_openai_or_textual():
    code = (
        "import asyncio, sys\n"
        "from sim.store.create import synthetic_world\n"
        "from sim.engine.simulation import Simulation\n"
        "import agora_testing.fakeserver, sim.cli.llm, plugins.llm\n"
        "async def main():\n"
        "    w = synthetic_world('o', 500, avg_degree=6, seed=1)\n"
        "    sim = Simulation(w)\n"
        "    sim.inject(None, author=int(w.columns['ids'][0]), model='llm', seeds='random:5')\n"
        "    for _ in range(5):\n"
        "        await sim.step()\n"
        "    print((await sim.llm.interview(1, 'hi?')).source, len(w.posts) > 0)\n"
        "asyncio.run(main())\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('openai', 'textual', 'httpx2')]\n"
        "assert not bad, bad[:5]\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["offline", "True"]


async def test_decisions_pending_in_a_snapshot_are_asked_again_or_fall_back(tmp_path):
    from sim.store.snapshot import load_snapshot, save_snapshot

    srv = await FakeChatServer(latency=3.0).start()
    try:
        w = world()
        sim = online(w, srv.url)
        s = sim.inject("pending", seeds="random:10", model="llm", params={"llm_agents": 8, "rule_params": "p=0.5"})
        for _ in range(3):
            await sim.step()
        waiting = int((s.state == 4).sum())
        assert waiting > 0 and s.store["llm.pending"].size == waiting
        save_snapshot(w, str(tmp_path / "p.snap"))
        await sim.llm.drain(0)
    finally:
        await srv.stop()
    back = load_snapshot(str(tmp_path / "p.snap"))
    restored = Simulation(back)  # offline now: what was pending takes the rule's decision
    t = next(x for x in back.sessions if x.id == s.id)
    await restored.step()
    assert int((t.state == 4).sum()) == 0 and t.store["llm.pending"].size == 0
    assert t.model.answers["fallback"] == waiting
    await run_until_done(restored)
    assert t.status == "completed"


def test_a_snapshot_with_damaged_llm_rows_is_refused_with_one_clear_error(tmp_path):
    import zlib

    import msgpack

    from sim.errors import BadFileError
    from sim.store.snapshot import END_MAGIC, TRAILER, load_snapshot, save_snapshot

    w = world(300)
    w.posts.add(0, 3, 1, 1, "reply", "[bold]hi[/bold]", "offline")
    w.llm_cache.put("k" * 64, "m", [{"role": "user", "content": "q"}], "a", 1, 1)
    path = tmp_path / "ok.snap"
    save_snapshot(w, str(path))
    back = load_snapshot(str(path))
    assert back.posts.recent()[0]["text"] == "[bold]hi[/bold]" and len(back.llm_cache) == 1
    data = path.read_bytes()

    def rewrite(change) -> str:
        offset, _, _ = TRAILER.unpack(data[-TRAILER.size :])
        manifest = msgpack.unpackb(data[offset : -TRAILER.size], raw=False)
        change(manifest)
        packed = msgpack.packb(manifest, use_bin_type=True)
        bad = tmp_path / "bad.snap"
        bad.write_bytes(data[:offset] + packed + TRAILER.pack(offset, zlib.crc32(packed), END_MAGIC))
        return str(bad)

    for change in (
        lambda m: m.__setitem__("llm_cache", [["short", "m", "p", "a", 1, 1, 0]]),
        lambda m: m.__setitem__("llm_cache", 5),
        lambda m: m["posts"]["rows"][0].__setitem__(2, 10**9),  # an agent the world does not have
        lambda m: m["posts"]["rows"][0].__setitem__(5, "shout"),
        lambda m: m.__setitem__("posts", {"rows": [], "total": -1}),
    ):
        with pytest.raises(BadFileError, match="damaged") as err:
            load_snapshot(rewrite(change))
        assert "left as it was" in str(err.value) and "\n" not in str(err.value)
