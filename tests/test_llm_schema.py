"""Answers constrained to a JSON schema (issue 62): decisions are requested with ``DECISION_SCHEMA`` in the
first format a server takes (OpenAI's ``json_schema``, then llama-cpp-python's ``json_object`` with a schema),
falling back to the plain prompt where it refuses both; which one was used is counted (``schema_answers``,
``schema_plain``, ``schema_refused``). Against the project's fake server (which refuses the formats it is told
to) and, marked ``local_llm``, the real llama.cpp server.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agora_testing.fakeserver import FakeChatServer
from sim.engine.simulation import Simulation
from sim.llm.client import LLMClient, response_format
from sim.llm.config import LLMConfig
from sim.llm.local import LocalServer
from sim.llm.prompts import DECISION_SCHEMA, Decision, parse_decision
from sim.llm.service import LLMService
from sim.store.create import synthetic_world

ENV = {"OPENAI_API_KEY": "sk-agora-test-schema"}
#: A prompt the fake server answers with a decision (it contains "action").
DECIDE = [{"role": "user", "content": 'Answer with one JSON object: {"action": ..., "text": ...}'}]


def config(url: str, **settings) -> LLMConfig:
    return LLMConfig.resolve({"base_urls": url, "backoff": 0.01, "timeout": 5.0, "cache": False, **settings}, env=ENV)


def decide(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{DECIDE[0]['content']} (agent {i})"}]


def accounted(st) -> None:
    """The client's identities hold with refusals about (they are counted apart, not as calls)."""
    assert st.requests == st.offline + st.cache_hits + st.answered + st.circuit_open + st.gave_up + st.in_flight
    assert st.calls == st.answered + st.failures and st.failures == st.retries + st.gave_up


async def ask(srv: FakeChatServer, n: int, *, concurrent: bool = False, schema=DECISION_SCHEMA, **settings):
    client = LLMClient(config(srv.url, **settings))
    try:
        if concurrent:
            out = list(
                await asyncio.gather(
                    *(client.complete(decide(i), parse=parse_decision, schema=schema) for i in range(n))
                )
            )
        else:
            out = [await client.complete(decide(i), parse=parse_decision, schema=schema) for i in range(n)]
        return out, client.stats, client.servers_info()[0]
    finally:
        await client.aclose()


def test_the_response_formats():
    assert response_format("json_schema", DECISION_SCHEMA) == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": DECISION_SCHEMA, "strict": True},
    }
    assert response_format("json_object", DECISION_SCHEMA) == {"type": "json_object", "schema": DECISION_SCHEMA}
    with pytest.raises(ValueError):
        response_format("yaml", DECISION_SCHEMA)


def test_the_schema_says_what_the_parser_takes():
    """What the schema allows, the parser takes (one of each action); and it asks for no key the parser refuses."""
    assert DECISION_SCHEMA["properties"]["action"]["enum"] == ["repost", "like", "reply", "ignore"]
    assert set(DECISION_SCHEMA["required"]) <= {"action", "text", "reason"}
    for action in DECISION_SCHEMA["properties"]["action"]["enum"]:
        assert parse_decision(f'{{"action": "{action}", "text": "yes"}}') == Decision(action, "yes")


async def test_a_server_with_structured_outputs_gets_the_schema_every_time():
    srv = await FakeChatServer().start()
    srv.keep_bodies = True
    try:
        out, st, info = await ask(srv, 5)
    finally:
        await srv.stop()
    assert [c.source for c in out] == ["llm"] * 5 and all(isinstance(c.value, Decision) for c in out)
    assert st.schema_answers == 5 and st.schema_plain == 0 and st.schema_refused == 0
    assert srv.formats == {"json_schema": 5} and info["schema"] == "json_schema"
    assert all(b["response_format"] == response_format("json_schema", DECISION_SCHEMA) for b in srv.bodies)
    accounted(st)


@pytest.mark.parametrize("status", [400, 422, 500])
async def test_a_server_that_takes_only_json_object_is_found_out_once(status):
    """llama-cpp-python's kind: ``json_schema`` refused (its 500 names response_format), ``json_object`` taken;
    the refusal costs one call of the first request, is no failure, and is never repeated."""
    srv = await FakeChatServer(schema_formats=("json_object",), refuse_status=status).start()
    try:
        out, st, info = await ask(srv, 4)
    finally:
        await srv.stop()
    assert [c.source for c in out] == ["llm"] * 4
    assert st.schema_refused == 1 and srv.refused_formats == {"json_schema": 1}
    assert st.schema_answers == 4 and st.schema_plain == 0 and srv.formats == {"json_object": 4}
    assert st.calls == st.answered == 4 and st.failures == st.retries == 0 and info["state"] == "closed"
    assert info["schema"] == "json_object"
    accounted(st)


async def test_a_server_without_structured_outputs_gets_the_plain_prompt_and_the_parser():
    srv = await FakeChatServer(schema_formats=()).start()
    try:
        out, st, info = await ask(srv, 3)
    finally:
        await srv.stop()
    assert [c.source for c in out] == ["llm"] * 3 and all(isinstance(c.value, Decision) for c in out)
    assert st.schema_refused == 2 and st.schema_plain == 3 and st.schema_answers == 0
    assert srv.formats == {"plain": 3} and info["schema"] == "refused"
    accounted(st)


async def test_an_error_that_does_not_name_the_format_is_a_failure_as_without_a_schema():
    """An injected 400 ("injected 400"): not a refusal of the schema, so the request gives up as it would
    without one, and the formats stay as they were."""
    srv = await FakeChatServer(plan=["400"]).start()
    try:
        out, st, info = await ask(srv, 2)
    finally:
        await srv.stop()
    assert [c.source for c in out] == ["offline", "llm"] and st.gave_up == 1 and st.failures == 1
    assert st.schema_refused == 0 and st.schema_answers == 1 and info["schema"] == "json_schema"
    assert st.calls == srv.received == 2
    accounted(st)


async def test_a_refusal_the_plain_prompt_gets_too_strikes_no_format_off():
    """The first request is refused in both formats, then fails plain too (so the refusals said nothing sure
    of the schema): it gives up and the server's formats stay untried; the second request finds them out."""
    srv = await FakeChatServer(schema_formats=(), plan=["400"]).start()
    client = LLMClient(config(srv.url))
    try:
        first = await client.complete(decide(0), parse=parse_decision, schema=DECISION_SCHEMA)
        assert first.source == "offline" and client.stats.gave_up == 1
        assert client.servers_info()[0]["schema"] == "unknown" and client.stats.schema_refused == 2
        second = await client.complete(decide(1), parse=parse_decision, schema=DECISION_SCHEMA)
    finally:
        await client.aclose()
        await srv.stop()
    st = client.stats
    assert second.source == "llm" and st.schema_plain == 1 and st.schema_refused == 4
    assert client.servers_info()[0]["schema"] == "refused"
    accounted(st)


async def test_many_requests_at_once_all_land_in_the_format_the_server_takes():
    srv = await FakeChatServer(schema_formats=("json_object",), latency=0.01).start()
    try:
        out, st, _ = await ask(srv, 12, concurrent=True, concurrency=6)
    finally:
        await srv.stop()
    assert [c.source for c in out] == ["llm"] * 12
    assert st.schema_answers == 12 and srv.formats == {"json_object": 12}
    assert 1 <= st.schema_refused <= 6  # the requests sent before the first refusal came back
    accounted(st)


async def test_requests_without_a_schema_never_carry_one():
    srv = await FakeChatServer().start()
    try:
        out, st, info = await ask(srv, 3, schema=None)
    finally:
        await srv.stop()
    assert srv.formats == {"plain": 3} and st.schema_answers == st.schema_plain == st.schema_refused == 0
    assert info["schema"] == "unknown"


async def test_the_llm_model_asks_for_decisions_with_the_schema_and_the_run_counts_it():
    srv = await FakeChatServer(schema_formats=("json_object",), latency=0.005).start()
    w = synthetic_world("schema", 1500, avg_degree=8, seed=7)
    sim = Simulation(w, llm=LLMService(w, config(srv.url, calls_per_tick=20, cache=True, texts_per_tick=0)))
    try:
        s = sim.inject("A new AI model writes poems", topics=["ai"], seeds="random:6", model="llm")
        ticks = 0
        while not sim.idle and ticks < 3000:
            await sim.step()
            ticks += 1
        await sim.aclose(60)
    finally:
        await srv.stop()
    st = sim.llm.stats()
    assert s.status == "completed" and s.model.answers["llm"] > 0
    assert st["schema_answers"] == st["answered"] > 0 and st["schema_plain"] == 0 and st["schema_refused"] >= 1
    assert srv.formats == {"json_object": st["answered"]}
    assert int((s.state == s.state_names.index("deciding")).sum()) == 0
    assert np.all(s.adopted_at[s.state > 0] >= 0)


@pytest.mark.local_llm
@pytest.mark.slow
async def test_the_real_server_is_asked_in_json_object_and_its_decisions_parse():
    """llama-cpp-python refuses ``json_schema`` (a 500 naming response_format) and takes ``json_object``: the
    client finds it out on its first request; constrained by the schema, SmolLM2's decisions are JSON."""
    async with LocalServer() as server:
        client = LLMClient(server.config(LLMConfig(max_tokens=40, temperature=0.0, cache=False, timeout=300.0)))
        try:
            out = [await client.complete(decide(i), parse=parse_decision, schema=DECISION_SCHEMA) for i in range(2)]
        finally:
            await client.aclose()
    st = client.stats
    assert st.schema_refused == 1 and st.schema_answers == 2 and client.servers_info()[0]["schema"] == "json_object"
    assert st.failures == 0 and all(c.source in ("llm", "offline") for c in out)
    # JSON every time (the grammar allows nothing else); a decision unless it was a reply without text.
    assert st.malformed <= 1 and sum(isinstance(c.value, Decision) for c in out) >= 1, [c.text for c in out]
    accounted(st)
