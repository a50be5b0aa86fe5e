"""``agora bench llm --scorecard``: the fidelity scorecard (:mod:`sim.runs.llmscore`) on a generated world, against
the project's fake server (the default: a model whose decisions hang on the agent's interest in the topic, so a
policy has something to learn) or the local model (``--local``), with the time and memory it took.

The fake model's answers are a function of the prompt (:func:`fake_answer`): an agent whose interests name the
message's topic reposts, the others ignore; an archetype's probabilities say the same of its group. It is a
yardstick of the machinery (a policy should agree with it almost always, archetypes where the situation decides),
not of any model's behaviour.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from sim.bench.measure import PeakRSS, mb
from sim.llm import local
from sim.llm.config import LLMConfig
from sim.runs.llmscore import Message, scorecard
from sim.store.create import synthetic_world

#: The generated world's agents and the replicates per arm, by default: on the fake server, and on the local model
#: (whose all-LLM arm asks for every exposed agent: about 20 minutes on this 2-core machine).
AGENTS, REPLICATES = 1000, 3
LOCAL_AGENTS, LOCAL_REPLICATES = 300, 3
MESSAGE = "Flu shots are free at the town pharmacy this week"
TOPIC = "health"


def fake_answer(messages: list[dict[str, Any]]) -> str:
    """The fake model of the scorecard (see the module docstring)."""
    text = json.dumps(messages)
    if "four probabilities" in text:
        interested = "topic is among its interests" in text
        repost, ignore = (0.8, 0.1) if interested else (0.05, 0.85)
        return json.dumps({"repost": repost, "reply": 0.0, "like": 0.1, "ignore": ignore})
    if "action" in text:
        return json.dumps({"action": "repost" if TOPIC in text else "ignore", "text": "noted"})
    return "fine"


async def _score(
    config: LLMConfig, agents: int, replicates: int, archetypes: str, progress: Callable[[str, float], None] | None
) -> dict[str, Any]:
    world = synthetic_world("bench-scorecard", agents, avg_degree=8, seed=76)
    message = Message(MESSAGE, (TOPIC,))
    order = {"llm": 0, "archetypes": 1, "policy": 2}

    def step(arm: str, done: int) -> None:
        if progress is not None:
            progress(f"{arm} replicate {done}", (order[arm] * replicates + done) / (3 * replicates))

    return await scorecard(world, config, message, archetypes=archetypes, replicates=replicates, progress=step)


def bench_scorecard(
    *,
    use_local: bool = False,
    agents: int | None = None,
    replicates: int | None = None,
    archetypes: str = "8",
    model: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """The scorecard's JSON with ``benchmark``, ``server`` (``fake`` or ``local``), ``total_s`` and ``peak_rss_mb``."""
    from agora_testing.fakeserver import FakeChatServer  # noqa: PLC0415 - the yardstick, only for this bench

    agents = agents or (LOCAL_AGENTS if use_local else AGENTS)
    replicates = replicates or (LOCAL_REPLICATES if use_local else REPLICATES)
    t0 = time.perf_counter()
    settings = {"texts_per_tick": 0, "calls_per_tick": 10_000, "memory": "off"}

    async def main() -> dict[str, Any]:
        if use_local:
            overrides: dict[str, Any] = {**settings, "local": True}
            if model is not None:
                overrides["local_model"] = model
            async with local.serving(None, overrides) as config:
                return await _score(config, agents, replicates, archetypes, progress)
        srv = await FakeChatServer(latency=0.002, answer=fake_answer).start()
        try:
            config = LLMConfig.resolve({**settings, "base_urls": srv.url}, env={"OPENAI_API_KEY": "bench"})
            return await _score(config, agents, replicates, archetypes, progress)
        finally:
            await srv.stop()

    with PeakRSS(interval=0.1) as pk:
        card = asyncio.run(main())
    return {
        "benchmark": "llm-scorecard",
        "server": "local" if use_local else "fake",
        **card,
        "total_s": round(time.perf_counter() - t0, 2),
        "peak_rss_mb": mb(pk.peak),
    }
