"""Answers constrained to a JSON schema (issue 62): decisions are requested with ``DECISION_SCHEMA`` in the
first format a server takes (OpenAI's ``json_schema``, then llama-cpp-python's ``json_object`` with a schema),
falling back to the plain prompt where it refuses both; which one was used is counted (``schema_answers``,
``schema_plain``, ``schema_refused``). Against the project's fake server (which refuses the formats it is told
to) and, marked ``local_llm``, the real llama.cpp server.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import numpy as np
import pytest

from agora_testing.fakeserver import FakeChatServer, answer_for
from sim.core.llmcache import cache_key
from sim.engine.simulation import Simulation
from sim.llm.client import LLMClient, response_format
from sim.llm.config import LLMConfig
from sim.llm.local import LocalServer
from sim.llm.prompts import (
    DECISION_SCHEMA,
    INTERVIEW_SCHEMA,
    SUMMARY_SCHEMA,
    Decision,
    parse_answer,
    parse_decision,
    parse_summary,
)
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


# -- interviews and memory summaries -------------------------------------------------------------------------
QUESTION = "What do you make of the new bike lanes?"


def seen_rows(agent: int, n: int) -> list[tuple[int, int, str, int, int, str]]:
    return [(agent, t, "seen", -1, -1, f"Post {t}: the bike lanes on Elm street open on Monday") for t in range(n)]


def test_answers_and_summaries_parse_from_json_or_plain_text():
    assert parse_answer('{"answer": "I ride to work. \\"Finally!\\""}') == 'I ride to work. "Finally!"'
    assert parse_answer('```json\n{"answer": "fenced"}\n```') == "fenced"
    assert parse_answer("  A plain answer, as before.\x07 ") == "A plain answer, as before."
    assert parse_summary('{ "summary" : "I saw posts about the bridge."}') == "I saw posts about the bridge."
    # Cut short by max_tokens: the part that came (an escape cut in half is left out).
    assert parse_answer('{ "answer": "I think \\u00e9 it is \\u00') == "I think é it is"
    assert len(parse_summary(json.dumps({"summary": "x" * 5000}))) == 1200
    for bad in ("", "   ", '{"answer": "  "}', '{"summary": "s"}', '{"answer": 3}', "{broken", '{"answer": "'):
        with pytest.raises(ValueError):
            parse_answer(bad)
    assert INTERVIEW_SCHEMA["required"] == ["answer"] and SUMMARY_SCHEMA["required"] == ["summary"]


def memory_service(url: str, w, **settings) -> LLMService:
    return LLMService(w, config(url, memory="llm", memory_window=3, memory_summary_every=2, **settings))


@pytest.mark.parametrize("formats", [("json_schema", "json_object"), ("json_object",), ()])
async def test_an_interview_and_the_summary_before_it_are_asked_with_their_schemas(formats):
    """The agent's older memories are condensed first (SUMMARY_SCHEMA), then it answers (INTERVIEW_SCHEMA): in
    the form the server takes, or plain where it takes none; either way the text kept and shown is the plain
    text the server meant (not the JSON), and the counters say which was used."""
    srv = await FakeChatServer(schema_formats=formats).start()
    srv.keep_bodies = True
    w = synthetic_world("schema", 300, avg_degree=6, seed=3)
    service = memory_service(srv.url, w)
    try:
        service._enroll([5])
        w.memory.record_rows(seen_rows(5, 8))
        result = await service.interview(5, QUESTION)
        await service.client.aclose()
    finally:
        await srv.stop()
    summary_body, answer_body = srv.bodies
    assert "Write a new summary" in summary_body["messages"][1]["content"]
    summary = w.memory.summary(5)
    assert summary["written_by"] == "llm" and summary["text"] == answer_for(summary_body["messages"])
    assert result.source == "llm" and result.text == answer_for(answer_body["messages"])
    assert not result.text.startswith("{")
    st = service.client.stats
    if formats:
        form = formats[0]
        assert summary_body["response_format"] == response_format(form, SUMMARY_SCHEMA)
        assert answer_body["response_format"] == response_format(form, INTERVIEW_SCHEMA)
        assert st.schema_answers == 2 and st.schema_plain == 0 and srv.formats == {form: 2}
    else:
        assert "response_format" not in summary_body and "response_format" not in answer_body
        assert st.schema_plain == 2 and st.schema_answers == 0 and st.schema_refused == 2  # found out once
    assert st.malformed == 0
    accounted(st)


async def test_a_json_answer_without_its_key_is_malformed_and_the_offline_answer_is_given():
    srv = await FakeChatServer(answer=lambda m: json.dumps({"reply": "not the key asked for"})).start()
    w = synthetic_world("schema", 300, avg_degree=6, seed=3)
    service = LLMService(w, config(srv.url))
    try:
        result = await service.interview(7, QUESTION)
        await service.client.aclose()
    finally:
        await srv.stop()
    assert result.source == "offline" and "malformed" in result.reason and "reply" not in result.text
    assert result.text.strip() and service.client.stats.malformed == 1


async def test_a_summary_asked_in_a_tick_keeps_the_text_of_its_json():
    """maintain_memory asks through the tick's budget with SUMMARY_SCHEMA; the summary stored is the JSON's."""
    srv = await FakeChatServer(schema_formats=("json_object",)).start()
    srv.keep_bodies = True
    w = synthetic_world("schema", 300, avg_degree=6, seed=3)
    sim = Simulation(w, llm=memory_service(srv.url, w, calls_per_tick=5, texts_per_tick=0))
    try:
        sim.llm._enroll([2, 4])
        w.memory.record_rows(seen_rows(2, 8) + seen_rows(4, 9))
        await sim.step()
        await sim.aclose(10)  # waits for the answers in flight and hands them over
    finally:
        await srv.stop()
    bodies = [b for b in srv.bodies if "Write a new summary" in b["messages"][1]["content"]]
    assert len(bodies) == 2 and all(b["response_format"]["schema"] == SUMMARY_SCHEMA for b in bodies)
    for a in (2, 4):
        s = w.memory.summary(a)
        assert s["written_by"] == "llm" and not s["text"].startswith("{")
        assert s["text"] in {answer_for(b["messages"]) for b in bodies}


# -- the cache key ---------------------------------------------------------------------------------------------
async def test_the_schema_is_part_of_the_cache_key():
    """A plain answer cached never serves the same prompt asked with a schema (nor one schema another's); the same
    request again is a cache hit. Without a schema the key is the one worlds cached before."""
    srv = await FakeChatServer().start()
    client = LLMClient(config(srv.url, cache=True))
    try:
        prompt = [{"role": "user", "content": "Tell me about your day."}]
        first = await client.complete(prompt)
        assert first.source == "llm"
        asked = await client.complete(prompt, parse=parse_answer, schema=INTERVIEW_SCHEMA)
        assert asked.source == "llm" and client.stats.cache_hits == 0  # not the plain answer
        again = await client.complete(prompt, parse=parse_answer, schema=INTERVIEW_SCHEMA)
        assert again.source == "cache" and again.value == asked.value == first.text
        other = await client.complete(prompt, parse=parse_summary, schema=SUMMARY_SCHEMA)
        assert other.source == "llm"
        assert (await client.complete(prompt)).source == "cache"
    finally:
        await client.aclose()
        await srv.stop()
    assert srv.formats == {"plain": 1, "json_schema": 2} and client.stats.cache_hits == 2
    keys = {client.key_for(prompt), client.key_for(prompt, schema=INTERVIEW_SCHEMA)}
    keys.add(client.key_for(prompt, schema=SUMMARY_SCHEMA))
    assert len(keys) == 3
    assert client.key_for(prompt) == cache_key(client.config.model, prompt, client.config.temperature, 120)


@pytest.mark.local_llm
@pytest.mark.slow
async def test_the_real_model_writes_a_summary_and_answers_an_interview_in_persona_under_their_schemas():
    """SmolLM2 behind llama.cpp: the agent's older memories condensed by the model (SUMMARY_SCHEMA), then its
    answer (INTERVIEW_SCHEMA), both in ``json_object`` form; what is kept and shown is the text, not the JSON."""
    w = synthetic_world("schema", 300, avg_degree=6, seed=3)
    settings = LLMConfig(cache=False, timeout=300.0, concurrency=1, temperature=0.0, memory="llm")
    async with LocalServer() as server:
        service = LLMService(w, server.config(replace(settings, memory_window=3, memory_summary_every=2)))
        try:
            service._enroll([5])
            w.memory.record_rows(seen_rows(5, 8))
            result = await service.interview(5, QUESTION)
        finally:
            await service.client.aclose()
    st = service.client.stats
    assert st.schema_answers == 2 and st.schema_refused == 1 and st.failures == 0 and st.malformed == 0, st
    summary = w.memory.summary(5)
    assert summary["written_by"] == "llm" and len(summary["text"].split()) >= 3, summary
    assert result.source == "llm" and len(result.text.split()) >= 3, result
    for text in (summary["text"], result.text):
        assert not text.lstrip().startswith("{") and '"answer"' not in text and '"summary"' not in text
