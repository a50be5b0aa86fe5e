"""The LLM client against a real chat-completions server on 127.0.0.1 that injects faults.

Every request is accounted for with exact counts: answered, retried, or fallen back.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from agora_testing.fakeserver import FakeChatServer
from sim.core.llmcache import LLMCache
from sim.errors import BadParameterError
from sim.llm.client import LLMClient
from sim.llm.config import LLMConfig, llm_settings
from sim.llm.prompts import Decision, parse_decision

KEY = "sk-agora-test-SECRET-7f3a"
ENV = {"OPENAI_API_KEY": KEY}


def config(urls, **settings) -> LLMConfig:
    base = {"base_urls": ",".join(urls) if isinstance(urls, list) else urls, "backoff": 0.01, "timeout": 5.0}
    base.update(settings)
    return LLMConfig.resolve(base, env=ENV)


def msgs(i: int = 0) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {i}"}]


def offline_text() -> str:
    return "offline answer"


def invariants(st) -> None:
    """The accounting identities of sim.llm.client."""
    assert (
        st.requests
        == st.offline + st.cache_hits + st.answered + st.circuit_open + st.gave_up + st.cancelled + st.in_flight
    )
    assert st.calls == st.answered + st.failures
    if st.cancelled == 0:
        assert st.failures == st.retries + st.gave_up
    assert st.fallbacks == st.circuit_open + st.gave_up + st.malformed + st.cancelled


@pytest.fixture
async def server():
    srv = await FakeChatServer().start()
    yield srv
    await srv.stop()


async def test_normal_answers_are_counted_with_tokens_and_cost(server):
    client = LLMClient(config(server.url, cache=False))
    try:
        out = await asyncio.gather(*(client.complete(msgs(i)) for i in range(10)))
    finally:
        await client.aclose()
    st = client.stats
    assert [c.source for c in out] == ["llm"] * 10
    assert st.requests == st.calls == st.answered == server.received == 10
    assert st.failures == st.retries == st.fallbacks == 0
    assert st.tokens_in == sum(c.tokens_in for c in out) > 0
    assert st.tokens_out == sum(c.tokens_out for c in out) > 0
    # gpt-4o-mini list price: $0.15 / $0.60 per million tokens
    assert st.cost_usd == pytest.approx((st.tokens_in * 0.15 + st.tokens_out * 0.60) / 1e6)
    assert f"Bearer {KEY}" in server.authorization  # the key reaches the server, and only there
    invariants(st)


async def test_429_honours_retry_after_over_the_backoff():
    srv = await FakeChatServer(plan=["429", "429"], retry_after=0.25).start()
    client = LLMClient(config(srv.url, backoff=30.0, max_backoff=60.0))
    try:
        t0 = time.perf_counter()
        c = await client.complete(msgs())
        took = time.perf_counter() - t0
    finally:
        await client.aclose()
        await srv.stop()
    st = client.stats
    assert c.source == "llm"
    assert (st.calls, st.failures, st.retries, st.answered, st.fallbacks) == (3, 2, 2, 1, 0)
    assert srv.counts == {"429": 2, "ok": 1}
    assert st.errors == {"http 429": 2}
    assert 0.5 <= took < 20.0  # two Retry-After waits of 0.25 s, not the 30 s backoff (the bound: far below it)
    invariants(st)


async def test_retry_after_is_capped_by_max_backoff():
    srv = await FakeChatServer(plan=["429"], retry_after=120).start()
    client = LLMClient(config(srv.url, max_backoff=0.05))
    try:
        t0 = time.perf_counter()
        c = await client.complete(msgs())
        assert time.perf_counter() - t0 < 60.0  # far below the 120 s the server asked for
    finally:
        await client.aclose()
        await srv.stop()
    assert c.source == "llm" and client.stats.retries == 1


async def test_500s_give_up_after_the_retries_and_fall_back():
    srv = await FakeChatServer(plan=["500"] * 10).start()
    client = LLMClient(config(srv.url, retries=2, breaker_failures=100))
    try:
        c = await client.complete(msgs(), fallback=offline_text)
    finally:
        await client.aclose()
        await srv.stop()
    st = client.stats
    assert c.source == "offline" and c.text == "offline answer" and "http 500" in c.reason
    assert (st.calls, st.failures, st.retries, st.gave_up, st.fallbacks, st.answered) == (3, 3, 2, 1, 1, 0)
    assert srv.received == 3
    invariants(st)


async def test_a_400_is_not_retried():
    srv = await FakeChatServer(plan=["400"]).start()
    client = LLMClient(config(srv.url, retries=5))
    try:
        c = await client.complete(msgs(), fallback=offline_text)
    finally:
        await client.aclose()
        await srv.stop()
    assert c.source == "offline"
    assert (client.stats.calls, client.stats.retries, client.stats.gave_up) == (1, 0, 1)
    assert srv.received == 1


async def test_timeouts_are_retried():
    # The server holds the first request 30 s; the client gives up after 2 s (an answer in time must come
    # back within it, however loaded the machine) and its retry gets an answer.
    srv = await FakeChatServer(plan=["timeout"], hang=30.0).start()
    client = LLMClient(config(srv.url, timeout=2.0, retries=1))
    try:
        t0 = time.perf_counter()
        c = await client.complete(msgs())
        took = time.perf_counter() - t0
    finally:
        await client.aclose()
        await srv.stop()
    st = client.stats
    assert c.source == "llm"
    assert (st.calls, st.failures, st.retries, st.answered) == (2, 1, 1, 1)
    assert st.errors == {"timeout": 1}
    assert 2.0 <= took < 20.0  # the timeout, then the retry's answer: never the 30 s hang
    invariants(st)


async def test_malformed_bodies_and_dropped_connections_are_retried():
    srv = await FakeChatServer(plan=["malformed", "empty", "drop"]).start()
    client = LLMClient(config(srv.url, retries=3))
    try:
        c = await client.complete(msgs())
    finally:
        await client.aclose()
        await srv.stop()
    st = client.stats
    assert c.source == "llm"
    assert (st.calls, st.failures, st.retries, st.answered) == (4, 3, 3, 1)
    assert st.errors == {"malformed body": 2, "connection": 1}
    invariants(st)


async def test_answers_that_break_the_schema_are_counted_and_fall_back():
    srv = await FakeChatServer(plan=["bad_content"]).start()
    client = LLMClient(config(srv.url))
    decision_prompt = [{"role": "user", "content": 'Answer with {"action": ...}'}]
    try:
        bad = await client.complete(decision_prompt, parse=parse_decision, fallback=offline_text)
        good = await client.complete(decision_prompt + [{"role": "user", "content": "again"}], parse=parse_decision)
    finally:
        await client.aclose()
        await srv.stop()
    st = client.stats
    assert bad.source == "offline" and bad.value is None and bad.reason.startswith("malformed answer")
    assert good.source == "llm" and isinstance(good.value, Decision)
    assert (st.answered, st.malformed, st.fallbacks, st.retries) == (2, 1, 1, 0)
    invariants(st)


def test_the_decision_schema_is_strict():
    assert parse_decision('{"action": "like"}') == Decision("like", "")
    assert parse_decision('```json\n{"action": "reply", "text": "so true"}\n```') == Decision("reply", "so true")
    for bad in (
        '"like"',
        "[1]",
        '{"action": "share"}',
        '{"action": "reply"}',
        '{"action": "like", "mood": 1}',
        '{"action": "repost", "text": 5}',
        '{"action": "repost", "text": "' + "x" * 1001 + '"}',
        "not json",
    ):
        with pytest.raises(ValueError):
            parse_decision(bad)


async def test_a_server_that_disappears_mid_run_opens_the_breaker_and_every_request_is_accounted_for():
    srv = await FakeChatServer().start()
    # A generous timeout: the ten answers before the server goes must come in time on a loaded machine;
    # after it, calls fail at once (connection refused).
    client = LLMClient(config(srv.url, retries=1, breaker_failures=3, breaker_cooldown=60, timeout=10.0))
    results = []
    try:
        for i in range(30):
            if i == 10:
                await srv.stop()
            results.append(await client.complete(msgs(i), fallback=offline_text))
        assert client.mode == "fallback"
    finally:
        await client.aclose()
    st = client.stats
    assert [c.source for c in results[:10]] == ["llm"] * 10
    assert all(c.source == "offline" for c in results[10:])
    assert srv.received == st.answered == 10
    # Request 10 fails twice (2 calls), request 11 fails once more: the breaker opens at 3 failures in a row;
    # request 11 then finds no server and gives up; the 18 after it never reach the network.
    assert (st.requests, st.calls, st.failures, st.retries, st.gave_up, st.circuit_open) == (30, 13, 3, 1, 2, 18)
    assert st.fallbacks == 20
    invariants(st)


async def test_the_breaker_lets_a_trial_through_after_the_cooldown_and_closes_on_success():
    srv = await FakeChatServer(plan=["500", "500"]).start()
    client = LLMClient(config(srv.url, retries=0, breaker_failures=2, breaker_cooldown=0.2))
    try:
        await client.complete(msgs(1))
        await client.complete(msgs(2))
        assert client.mode == "fallback"
        skipped = await client.complete(msgs(3), fallback=offline_text)
        assert skipped.source == "offline" and client.stats.circuit_open == 1
        await asyncio.sleep(0.25)
        assert client.servers_info()[0]["state"] == "half-open"
        ok = await client.complete(msgs(4))
        assert ok.source == "llm" and client.mode == "online"
    finally:
        await client.aclose()
        await srv.stop()
    invariants(client.stats)


async def test_requests_are_balanced_over_servers_and_a_dead_one_is_avoided():
    a, b = await FakeChatServer(latency=0.02).start(), await FakeChatServer(latency=0.02).start()
    dead = await FakeChatServer().start()
    dead_url = dead.url
    await dead.stop()
    client = LLMClient(
        config([a.url, b.url, dead_url], retries=2, breaker_failures=1, breaker_cooldown=60, cache=False)
    )
    try:
        out = await asyncio.gather(*(client.complete(msgs(i)) for i in range(40)))
    finally:
        await client.aclose()
        await a.stop()
        await b.stop()
    assert all(c.source == "llm" for c in out)
    assert a.received + b.received == 40
    assert a.received >= 10 and b.received >= 10
    info = {s["url"]: s for s in client.servers_info()}
    assert info[dead_url]["state"] == "open" and info[dead_url]["failures"] >= 1
    assert client.mode == "degraded"
    invariants(client.stats)


async def test_the_concurrency_cap_holds():
    srv = await FakeChatServer(latency=0.03).start()
    client = LLMClient(config(srv.url, concurrency=3, cache=False))
    try:
        await asyncio.gather(*(client.complete(msgs(i)) for i in range(24)))
    finally:
        await client.aclose()
        await srv.stop()
    assert srv.received == 24
    assert srv.max_in_flight == 3


async def test_requests_per_minute_are_limited():
    srv = await FakeChatServer().start()
    client = LLMClient(config(srv.url, rpm=1200, cache=False))  # 20 per second, a burst of 20
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(client.complete(msgs(i)) for i in range(40)))
        took = time.perf_counter() - t0
    finally:
        await client.aclose()
        await srv.stop()
    assert srv.received == 40
    assert took >= 0.9  # the 20 beyond the burst need a second


async def test_repeated_prompts_come_from_the_cache(server):
    cache = LLMCache()
    client = LLMClient(config(server.url), cache)
    try:
        first = await client.complete(msgs(1))
        again = await client.complete(msgs(1))
        sync = client.cached(msgs(1))
    finally:
        await client.aclose()
    assert first.source == "llm" and again.source == "cache" and sync is not None and sync.source == "cache"
    assert again.text == first.text == sync.text
    assert server.received == 1
    assert client.stats.cache_hits == 2 and len(cache) == 1
    assert client.cached(msgs(2)) is None
    invariants(client.stats)


async def test_offline_mode_never_touches_the_network(monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("offline mode opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    client = LLMClient(LLMConfig.resolve({}, env={}))
    assert client.mode == "offline"
    c = await client.complete(msgs(), fallback=offline_text)
    assert c.source == "offline" and c.text == "offline answer" and "OPENAI_API_KEY" in c.reason
    assert client.stats.offline == 1 and client.stats.calls == 0 and client.stats.fallbacks == 0


def test_settings_are_validated_and_the_key_is_never_a_setting():
    with pytest.raises(BadParameterError, match="never stored"):
        llm_settings({}, api_key="sk-x")
    with pytest.raises(BadParameterError, match="concurrency"):
        llm_settings({}, concurrency=0)
    with pytest.raises(BadParameterError, match="unknown LLM setting"):
        llm_settings({}, modle="x")
    with pytest.raises(BadParameterError, match="not valid"):
        llm_settings({}, base_urls="ftp://x")
    cfg = LLMConfig.resolve(
        {"model": "m1"},
        env={"OPENAI_API_KEY": KEY, "AGORA_LLM_MODEL": "m2", "OPENAI_BASE_URL": "http://a:1/v1, http://b:2/v1"},
    )
    assert cfg.model == "m2" and cfg.base_urls == ("http://a:1/v1", "http://b:2/v1") and cfg.mode == "online"
    assert KEY not in repr(cfg) and KEY not in str(cfg.public())
    assert LLMConfig.resolve({}, env={"OPENAI_API_KEY": KEY, "AGORA_LLM_OFFLINE": "1"}).mode == "offline"
