"""Reasoning models as users run them (issue 76): answers in ``reasoning_content`` or after ``<think>`` blocks are
read correctly, thinking is counted and never shown, and thinking that eats ``max_tokens`` does not silently cut
the answer. The fake server (``agora_testing.fakeserver``, a real server on 127.0.0.1) plays each kind of model."""

from __future__ import annotations

import asyncio

import pytest

from agora_testing.fakeserver import REASONING, FakeChatServer
from sim.engine.simulation import Simulation
from sim.llm.client import answer_of
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.store.create import synthetic_world

KEY = "sk-agora-test-reasoning"
THINKING = "Let me think"


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


async def _run(mode: str) -> tuple[dict, list[str]]:
    srv = await FakeChatServer(latency=0.001, reasoning=mode).start()
    try:
        w = synthetic_world("reasoning", 600, avg_degree=8, seed=3)
        cfg = LLMConfig.resolve(
            {"base_urls": srv.url, "backoff": 0.01, "timeout": 5.0, "calls_per_tick": 20, "texts_per_tick": 5},
            env={"OPENAI_API_KEY": KEY},
        )
        sim = Simulation(w, llm=LLMService(w, cfg))
        sim.inject("Think about this", topics=["science"], seeds="random:5", model="llm", params={"llm_agents": 6})
        ticks = 0
        while not sim.idle and ticks < 200:
            await sim.step()
            await asyncio.sleep(0.003)
            ticks += 1
        await sim.aclose(30)
        return sim.llm.stats(), [p["text"] for p in w.posts.recent(limit=10_000)]
    finally:
        await srv.stop()


@pytest.mark.parametrize("mode", REASONING)
async def test_every_kind_of_model_gives_decisions_and_clean_texts(mode):
    st, posts = await _run(mode)
    assert st["answered"] > 10
    assert st["malformed"] == 0 and st["fallbacks"] == 0  # every answer read, none folded into a fallback
    assert posts and not any(THINKING in p or "<think>" in p for p in posts)  # thinking never shown
    if mode == "content":
        assert st["tokens_reasoning"] == 0 and st["cut_by_thinking"] == 0
    else:
        assert st["tokens_reasoning"] > 10 * st["answered"] // 2  # counted, from usage or from the text
        assert st["tokens_reasoning"] < st["tokens_out"]
    if mode == "think_cut":
        # The first call of each request ran out of tokens while thinking; asked again with four times the budget
        # it answered. Each cut is a failure and a retry, never a silent empty answer.
        assert st["cut_by_thinking"] > 0 and st["failures"] >= st["cut_by_thinking"]
        assert st["retries"] >= st["cut_by_thinking"]
        assert st["calls"] == st["answered"] + st["failures"]
    else:
        assert st["cut_by_thinking"] == 0
