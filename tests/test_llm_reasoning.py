"""Reasoning models as users run them (issue 76): answers in ``reasoning_content`` or after ``<think>`` blocks are
read correctly, thinking is counted and never shown, and thinking that eats ``max_tokens`` does not silently cut
the answer. The fake server (``agora_testing.fakeserver``, a real server on 127.0.0.1) plays each kind of model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agora_testing.fakeserver import REASONING, FakeChatServer
from sim.engine.simulation import Simulation
from sim.llm.client import MAX_THINKING_TOKENS, THINKING_BUDGET, LLMClient, LLMStats, answer_of, split_thinking
from sim.llm.config import LLMConfig
from sim.llm.prompts import DECISION_SCHEMA, Decision, parse_decision
from sim.llm.service import LLMService, llm_report
from sim.store.create import synthetic_world

KEY = "sk-agora-test-reasoning"
THINKING = "Let me think"
#: A prompt the fake server answers with a decision (it contains "action").
DECIDE = 'Answer with one JSON object: {"action": ..., "text": ...}'
CUTS = ("think_cut", "reasoning_cut")


def accounted(st: LLMStats | dict[str, Any]) -> None:
    """The client's identities (docs/llm-agents.md, "The client") hold with reasoning models about."""
    g: dict[str, Any] = st.to_dict() if isinstance(st, LLMStats) else st
    assert g["requests"] == sum(
        g[k] for k in ("offline", "cache_hits", "answered", "circuit_open", "gave_up", "cancelled", "in_flight")
    )
    assert g["calls"] == g["answered"] + g["failures"]
    assert g["cancelled"] or g["failures"] == g["retries"] + g["gave_up"]
    assert g["fallbacks"] == g["circuit_open"] + g["gave_up"] + g["malformed"] + g["cancelled"]
    assert 0 <= g["tokens_reasoning"] <= g["tokens_out"]


@pytest.mark.parametrize(
    ("message", "answer", "thought"),
    [
        ({"content": '{"a": 1}'}, '{"a": 1}', ""),
        ({"content": '{"a": 1}', "reasoning_content": "hmm"}, '{"a": 1}', "hmm"),
        ({"content": None, "reasoning_content": 'I pick {"a": 0} no, {"a": 2}. Done.'}, '{"a": 2}', "I pick"),
        ({"content": "", "reasoning": 'so {"a": 3}'}, '{"a": 3}', "so"),
        ({"content": '<think>hmm {no}</think>\n{"a": 4}'}, '{"a": 4}', "hmm"),
        ({"content": "<THINK>x</THINK> plain text"}, "plain text", "x"),
        ({"content": "<think>cut off in the middle"}, "", "cut off"),
        ({"content": None, "reasoning_content": "no object here"}, "", "no object"),
    ],
)
def test_the_answer_and_the_thinking_are_told_apart(message, answer, thought):
    got, thinking = answer_of(message)
    assert got == answer
    assert thinking.startswith(thought) if thought else thinking == ""


def test_content_of_another_type_is_malformed():
    with pytest.raises(TypeError):
        answer_of({"content": 3})


def test_what_a_cut_message_says_is_empty_though_its_thinking_holds_a_draft():
    """The client's rule for a cut: only what the message says outside its thinking is an answer."""
    said, thinking = split_thinking({"content": None, "reasoning_content": 'draft {"a": 1} but wait'})
    assert said == "" and '{"a": 1}' in thinking
    assert split_thinking({"content": '<think>x</think> {"a": 2} <think>cut'}) == ('{"a": 2}', "x\ncut")


async def _run(mode: str) -> tuple[dict, list[str], FakeChatServer]:
    srv = await FakeChatServer(latency=0.001, reasoning=mode).start()
    srv.keep_bodies = True
    try:
        w = synthetic_world("reasoning", 600, avg_degree=8, seed=3)
        cfg = LLMConfig.resolve(
            {"base_urls": srv.url, "backoff": 0.01, "timeout": 5.0, "calls_per_tick": 20, "texts_per_tick": 5},
            env={"OPENAI_API_KEY": KEY},
        )
        sim = Simulation(w, llm=LLMService(w, cfg))
        sim.inject("Think about this", topics=["science"], seeds="random:5", model="llm", params={"llm_agents": 6})
        ticks = 0
        while not sim.idle and ticks < 8:
            await sim.step()
            await asyncio.sleep(0.003)
            ticks += 1
        await sim.aclose(30)
        return llm_report(sim.llm.stats()), [p["text"] for p in w.posts.recent(limit=10_000)], srv
    finally:
        await srv.stop()


@pytest.mark.parametrize("mode", REASONING)
async def test_every_kind_of_model_gives_decisions_and_clean_texts(mode):
    """An LLM run through the real client against each kind of model, its ``llm`` JSON report read."""
    st, posts, srv = await _run(mode)
    assert st["answered"] > 10
    assert st["malformed"] == 0 and st["fallbacks"] == 0  # every answer read, none folded into a fallback
    assert posts and not any(THINKING in p or "<think>" in p or "draft" in p for p in posts)  # thinking never shown
    accounted(st)
    if mode == "content":
        assert st["tokens_reasoning"] == 0
    else:  # counted from the usage's reasoning_tokens, or (think_tags) estimated from the thinking text
        assert st["tokens_reasoning"] >= 40 * st["answered"]
        assert st["tokens_reasoning"] < st["tokens_out"]
    if mode in CUTS:
        # The first call of each request ran out of tokens while thinking (a draft in the thinking is not taken
        # for the answer); asked again with four times the budget it answered. Each cut is a failure and a retry,
        # never a silent empty answer; the server's breaker is untouched.
        assert st["cut_by_thinking"] == st["failures"] == st["retries"] == st["answered"] > 0
        assert st["errors"] == {"cut by thinking": st["cut_by_thinking"]}
        budgets = sorted({b["max_tokens"] for b in srv.bodies})
        assert budgets == [120, 120 * THINKING_BUDGET]
    else:
        assert st["cut_by_thinking"] == st["failures"] == 0


async def _ask(srv: FakeChatServer, n: int, max_tokens: int | None = None) -> tuple[list, LLMStats]:
    cfg = LLMConfig.resolve(
        {"base_urls": srv.url, "backoff": 0.01, "timeout": 5.0, "cache": False}, env={"OPENAI_API_KEY": KEY}
    )
    client = LLMClient(cfg)
    try:
        out = [
            await client.complete(
                [{"role": "user", "content": f"{DECIDE} (agent {i})"}],
                parse=parse_decision,
                fallback=lambda: "offline text",
                max_tokens=max_tokens,
                schema=DECISION_SCHEMA,
            )
            for i in range(n)
        ]
        return out, client.stats
    finally:
        await client.aclose()


@pytest.mark.parametrize("max_tokens", [120, MAX_THINKING_TOKENS, 5000])
async def test_a_model_that_never_stops_thinking_gives_up_counted(max_tokens):
    """Cut again with the larger budget (or cut at the cap already), the request falls back, counted as given up:
    never an empty answer taken as a decision, never a loop."""
    srv = await FakeChatServer(latency=0.001, reasoning="think_cut").start()
    srv.think_cut_below = 10**6
    srv.keep_bodies = True
    try:
        out, st = await _ask(srv, 3, max_tokens)
    finally:
        await srv.stop()
    tries = 2 if max_tokens < MAX_THINKING_TOKENS else 1
    assert [c.source for c in out] == ["offline"] * 3 and all(c.text == "offline text" for c in out)
    assert all("thinking ate the answer's tokens" in str(c.reason) for c in out)
    assert st.cut_by_thinking == st.failures == st.calls == 3 * tries and st.gave_up == 3 and st.answered == 0
    assert st.tokens_reasoning == sum(b["max_tokens"] for b in srv.bodies)  # every thinking token spent, counted
    assert [b["max_tokens"] for b in srv.bodies][:tries] == [max_tokens, max_tokens * THINKING_BUDGET][:tries]
    accounted(st)


@pytest.mark.parametrize("mode", ["reasoning_only", "think_tags", "reasoning_cut"])
@pytest.mark.parametrize("formats", [("json_object",), ()])
async def test_the_structured_output_fallback_still_works_with_reasoning_models(mode, formats):
    """json_schema refused, then json_object or the plain prompt: the answer read from the thinking all the same."""
    srv = await FakeChatServer(latency=0.001, reasoning=mode, schema_formats=formats).start()
    try:
        out, st = await _ask(srv, 4)
    finally:
        await srv.stop()
    assert [c.source for c in out] == ["llm"] * 4 and all(isinstance(c.value, Decision) for c in out)
    cuts = 4 if mode == "reasoning_cut" else 0  # each cut call asked again in the same form
    assert st.cut_by_thinking == cuts and st.schema_answers + st.schema_plain == 4
    assert st.schema_refused == 2 - len(formats) and srv.formats == {(formats or ("plain",))[0]: 4 + cuts}
    accounted(st)


async def test_a_ping_to_a_reasoning_model_says_it_is_up():
    srv = await FakeChatServer(latency=0.001, reasoning="think_cut").start()
    try:
        cfg = LLMConfig.resolve({"base_urls": srv.url, "timeout": 5.0}, env={"OPENAI_API_KEY": KEY})
        client = LLMClient(cfg)
        try:
            (ping,) = await client.ping()
        finally:
            await client.aclose()
    finally:
        await srv.stop()
    assert ping["result"].startswith("ok (") and "thinking" in ping["result"]
