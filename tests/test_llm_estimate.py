"""The LLM cost before the run (issue 62): ``agora llm estimate WORLD --inject ... --steps N``, the estimate
``agora run`` says before an LLM run and puts beside the actual after it (``llm_estimate`` in ``--json``), and
``WorldFile.llm_estimate``. The estimate comes from a dry run (``sim.runs.llmestimate``) that counts the calls and
prompts the run would make; checked against the project's fake server (whose usage is the prompt's characters / 4)
and, marked ``local_llm``, the real local model within 30 %.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest

import sim
from agora_testing.fakeserver import FakeChatServer
from sim.cli.main import main
from sim.core.llmcache import LLMCache, cache_key
from sim.core.persona import Persona
from sim.errors import BadParameterError
from sim.llm import prompts
from sim.llm.config import LLMConfig
from sim.llm.estimate import (
    API_PROFILE,
    KIND_MARKERS,
    LOCAL_PROFILE,
    MEASURED_MIN,
    Tally,
    TokenProfile,
    build_estimate,
    kind_of,
    profile_for,
)
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world

KEY = "sk-agora-test-estimate"
PERSONA = Persona("Ada Quill", "A nurse in Leeds.", "plain")
TEXT = "A new AI model writes poems"


@pytest.fixture
def world(tmp_path) -> str:
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(synthetic_world("est", 400, avg_degree=6, seed=5), path))
    return path


@pytest.fixture
def keyless(monkeypatch):
    for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORA_LLM_MODEL", "AGORA_LLM_OFFLINE"):
        monkeypatch.delenv(k, raising=False)


def cli(capsys, *words: str) -> tuple[int, str, str]:
    code = main(list(words))
    out = capsys.readouterr()
    return code, out.out, out.err


def files_of(path: str) -> dict[str, str]:
    """The world file's content and its write-ahead log's (a reader's connection, still open in this process,
    leaves an empty one: nothing written), as hashes."""
    out = {}
    for name in (path, path + "-wal"):
        if os.path.exists(name):
            with open(name, "rb") as f:
                data = f.read()
            if data or name == path:
                out[name] = hashlib.sha256(data).hexdigest()
    return out


def one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("agora"), err
    return lines[0]


# -- the arithmetic --------------------------------------------------------------------------------------------


def test_the_prompts_say_the_markers_of_their_kind():
    """The kinds are told apart by phrases of the prompts: a change of the prompts that loses one fails here."""
    decision = prompts.decision_prompt(PERSONA, ["science"], "hello", author="Bo")
    summary = prompts.summary_prompt(PERSONA, ["science"], "", ["tick 1: you saw a post"])
    text = prompts.post_prompt(PERSONA, ["science"], "reply", original="hello", original_author="Bo")
    interview = prompts.interview_prompt(PERSONA, ["science"], "How are you?")
    assert KIND_MARKERS["decision"] in json.dumps(decision)
    assert (kind_of(decision), kind_of(summary), kind_of(text), kind_of(interview)) == (
        "decision",
        "summary",
        "text",
        None,
    )
    assert kind_of(json.dumps(decision, ensure_ascii=False)) == "decision"  # as the cache keeps the prompt


def test_the_estimate_is_its_counts_under_the_profile_at_the_prices():
    tally = Tally()
    tally.requests.update(decision=12, text=5, summary=1)
    tally.hits.update(decision=2)
    tally.calls.update(decision=10, text=5, summary=1)
    tally.prompt_tokens.update(decision=1500, text=800, summary=300)
    profile = TokenProfile("test", 1.1, 10.0, {"decision": 20.0, "text": 50.0, "summary": 90.0}, 100.0, 10.0)
    config = LLMConfig(model="gpt-4o-mini", price_in=2.0, price_out=8.0)
    est = build_estimate(
        config, profile, tally, local=False, mode="online", runs=1, ticks=3, seconds=12.0, dry_run_seconds=0.1
    )
    kinds = {k.kind: k for k in est.kinds}
    assert kinds["decision"].tokens_in == round(1.1 * 1500 + 10 * 10) == 1750
    assert kinds["text"].tokens_in == round(1.1 * 800 + 10 * 5) == 930
    assert kinds["summary"].tokens_in == round(1.1 * 300 + 10) == 340
    assert (est.calls, est.cache_hits, est.tokens_in) == (16, 2, 1750 + 930 + 340)
    assert est.tokens_out == 10 * 20 + 5 * 50 + 90 == 540
    assert est.cost_usd == pytest.approx((3020 * 2.0 + 540 * 8.0) / 1e6)
    # Beside an actual run: the relative error of each figure.
    cmp = est.compare({"calls": 16, "tokens_in": 3020, "tokens_out": 600, "cost_usd": 0.01}, 10.0)
    assert cmp["actual"]["tokens_out"] == 600 and cmp["error"]["tokens_out"] == round(540 / 600 - 1, 3)
    assert cmp["error"]["calls"] == 0.0 and cmp["actual"]["seconds"] == 10.0
    assert json.loads(json.dumps(cmp)) == cmp  # JSON as it is
    # A call's time on a free server: its overhead, its prompt at the prefill rate, its answer at the output rate.
    assert profile.call_seconds("decision", 100) == pytest.approx((1.1 * 100 + 10) / 100 + 20 / 10)


def test_the_world_measures_its_own_model_where_its_cache_has_answers_of_it():
    """The cache keeps each answer's prompt and the usage the server reported: from MEASURED_MIN answers of a
    kind, their mean replaces the profile's, and the prompts measure the ratio of counted to estimated tokens."""
    cache = LLMCache()
    config = LLMConfig(model="m")
    est_total = 0
    for i in range(MEASURED_MIN):
        msgs = prompts.decision_prompt(PERSONA, ["science"], f"post {i}", author="Bo")
        est = prompts.prompt_tokens(msgs)
        est_total += est
        cache.put(cache_key("m", msgs, 0.7, 120), "m", msgs, "{}", 2 * est + API_PROFILE.in_per_call, 10 + i)
    texts = [prompts.post_prompt(PERSONA, [], "repost", original=f"p{i}") for i in range(MEASURED_MIN - 1)]
    for msgs in texts:  # too few texts: the profile's mean stays
        cache.put(cache_key("m", msgs, 0.7, 120), "m", msgs, "ok", 50, 99)
    other = prompts.decision_prompt(PERSONA, [], "x")
    cache.put(cache_key("other", other, 0.7, 120), "other", other, "{}", 500, 500)  # another model's: left out
    got = profile_for(config, cache, local=False)
    assert got.tokens_out["decision"] == pytest.approx(10 + (MEASURED_MIN - 1) / 2)
    assert got.tokens_out["text"] == API_PROFILE.tokens_out["text"]
    assert "cached answers of m" in got.source
    # Ratio over every measured call (texts too): (reported - per-call) / estimated.
    text_est = sum(prompts.prompt_tokens(m) for m in texts)
    reported = (
        sum(
            2 * prompts.prompt_tokens(prompts.decision_prompt(PERSONA, ["science"], f"post {i}", author="Bo"))
            for i in range(MEASURED_MIN)
        )
        + MEASURED_MIN * API_PROFILE.in_per_call
        + 50 * len(texts)
    )
    calls = MEASURED_MIN + len(texts)
    assert got.in_ratio == pytest.approx((reported - API_PROFILE.in_per_call * calls) / (est_total + text_est))
    assert profile_for(config, LLMCache(), local=True) is LOCAL_PROFILE  # nothing measured: the profile


# -- against the fake server --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_agora_run_puts_the_estimate_beside_the_actual_and_counts_the_calls_exactly(
    world, keyless, monkeypatch, capsys
):
    """Answers that land only after the last tick (the server takes 5 s; the dry run's API profile many ticks): the
    dry run walks the real run's trajectory, so it counts the same calls, and prompts the server counts as theirs
    (the fake server's usage is a whole prompt's characters / 4, the estimate's each message's, rounded up)."""
    srv = FakeChatServer(latency=5.0, answer=lambda messages: "x" * 40).start_in_thread()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    try:
        code, out, err = cli(
            capsys,
            *("run", world, "--inject", TEXT, "--model", "llm", "--param", "llm_agents=4", "--steps", "3", "--json"),
            *("--llm", f"base_urls={srv.url}", "--llm", "calls_per_tick=6", "--llm", "texts_per_tick=2"),
            *("--llm", "concurrency=64", "--llm-wait", "60"),
        )
    finally:
        srv.stop_thread()
    assert code == 0, err
    assert "agora: LLM estimate (gpt-4o-mini)" in err
    result = json.loads(out)
    est, llm = result["llm_estimate"], result["llm"]
    assert llm["calls"] > 0 and llm["failures"] == 0 and llm["calls"] == llm["asked"], llm  # all answered
    assert est["calls"] == est["actual"]["calls"] == llm["calls"]
    assert est["kinds"]["decision"]["calls"] > 0 and est["kinds"]["text"]["calls"] > 0
    prompt = sum(k["prompt_tokens"] for k in est["kinds"].values())
    assert abs(prompt - llm["tokens_in"]) <= 2 * llm["calls"], (prompt, llm["tokens_in"])
    assert est["tokens_in"] == round(prompt + API_PROFILE.in_per_call * est["calls"]) or abs(
        est["tokens_in"] - prompt - API_PROFILE.in_per_call * est["calls"]
    ) <= len(est["kinds"])  # rounded per kind
    assert llm["tokens_out"] == 10 * llm["calls"]  # 40 characters a call
    assert est["actual"]["tokens_in"] == llm["tokens_in"] and est["actual"]["seconds"] >= 5.0


def test_agora_llm_estimate_prints_it_alone_and_leaves_the_world_as_it_was(world, keyless, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    before = files_of(world)
    words = ("llm", "estimate", world, "--inject", TEXT, "--param", "llm_agents=5", "--steps", "4")
    code, out, err = cli(capsys, *words, "--llm", "calls_per_tick=7", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["mode"] == "online" and data["runs"] == 1 and data["ticks"] == 4
    assert 0 < data["calls"] <= 7 * 4 and data["tokens_in"] > data["calls"] * 100
    assert data["kinds"]["decision"]["requests"] <= 5 * 4
    assert data["cost_usd"] == pytest.approx((data["tokens_in"] * 0.15 + data["tokens_out"] * 0.6) / 1e6, abs=1e-6)
    assert files_of(world) == before
    code, text, err = cli(capsys, *words, "--llm", "calls_per_tick=7")
    assert code == 0 and text.startswith(f"LLM estimate (gpt-4o-mini): {data['calls']:,} calls"), text
    assert "dry run of 1 run(s), 4 ticks" in text
    # An ensemble: each run's dry run, a run's repeated prompts answered by the cache the first filled.
    code, out, err = cli(capsys, *words, "--runs", "2", "--seed", "0", "--llm", "calls_per_tick=7", "--json")
    two = json.loads(out)
    assert code == 0 and two["runs"] == 2 and two["ticks"] == 8 and two["calls"] + two["cache_hits"] > data["calls"]
    assert files_of(world) == before


def test_without_a_key_the_estimate_says_the_run_would_send_nothing(world, keyless, capsys):
    code, out, err = cli(capsys, "llm", "estimate", world, "--inject", TEXT, "--steps", "3", "--json")
    data = json.loads(out)
    assert code == 0 and data["mode"] == "offline" and data["calls"] > 0
    assert any("sends nothing" in n for n in data["notes"])


def test_the_python_api_returns_the_estimate_as_a_value(world, keyless, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    w = sim.open_world(world)
    est = w.llm_estimate(text=TEXT, steps=3, params={"llm_agents": 3}, llm={"calls_per_tick": 4, "price_in": 1.0})
    assert est.calls > 0 and est.prices == (1.0, 0.6) and est.model == "gpt-4o-mini" and not est.local
    assert est.to_dict()["calls"] == est.calls and est.kinds[0].kind == "decision"
    with pytest.raises(BadParameterError, match="no session with LLM agents"):
        w.llm_estimate(text=TEXT, steps=3, model="ic")
    with pytest.raises(BadParameterError, match="steps"):
        w.llm_estimate(text=TEXT, steps=0)


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (("--inject", "x", "--model", "ic", "--steps", "3"), "no session with LLM agents"),
        (("--inject", "x", "--steps", "0"), "--steps"),
        (("--inject", "x"), "--steps N or --until-done"),
        (("--inject", "x", "--steps", "2", "--set", "calls_per_tick=3"), "--set"),
        (("--steps", "2", "--model", "llm"), "--inject"),
    ],
)
def test_bad_input_to_an_estimate_is_one_sentence(world, keyless, capsys, words, says):
    before = files_of(world)
    try:
        code = main(["llm", "estimate", world, *words])
    except SystemExit as exc:  # argparse's own refusal (a number out of range)
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and says in one_sentence(err), err
    assert files_of(world) == before


def test_the_flags_of_an_estimate_are_refused_without_it(world, capsys):
    code, _, err = cli(capsys, "llm", world, "--steps", "3")
    assert code == 2 and "--steps is for an estimate" in one_sentence(err)
    code, _, err = cli(capsys, "llm", "estimate", "--inject", "x", "--steps", "2")
    assert code == 2 and "which world" in one_sentence(err)


# -- the real model ---------------------------------------------------------------------------------------------


@pytest.mark.local_llm
@pytest.mark.slow
def test_the_estimate_is_within_30_percent_of_a_real_run_on_the_local_model(tmp_path, capsys):
    path = str(tmp_path / "small.db")
    asyncio.run(save_world(synthetic_world("est", 200, avg_degree=6, seed=8), path))
    code, out, err = cli(
        capsys,
        *("run", path, "--inject", TEXT, "--model", "llm", "--param", "llm_agents=3", "--steps", "3", "--json"),
        *("--llm", "local", "--llm", "calls_per_tick=3", "--llm", "texts_per_tick=0", "--llm-wait", "600"),
        *("--llm", "temperature=0"),  # greedy: the model's answers, and so their lengths, the same every time
    )
    assert code == 0, err
    est = json.loads(out)["llm_estimate"]
    act = est["actual"]
    assert act["calls"] > 0 and est["local"], est
    for k in ("calls", "tokens_in", "tokens_out"):
        assert abs(est[k] / act[k] - 1) <= 0.30, (k, est[k], act[k])


async def test_the_dry_run_leaves_the_world_in_memory_as_it_was(keyless):
    """The same run after an estimate as without one: the dry run forks the world and never touches it."""
    from sim.engine.requests import Ensemble
    from sim.model.registry import plugin_registry
    from sim.runs.llmestimate import aestimate_session
    from sim.runs.runner import run_cascades

    registry = plugin_registry(None)
    fields = {"text": TEXT, "model": "llm", "steps": 4, "params": {"llm_agents": 5}}
    results = []
    for estimate_first in (True, False):
        w = synthetic_world("est", 300, avg_degree=6, seed=3)
        request = Ensemble.parse(fields, registry)
        if estimate_first:
            est = await aestimate_session(w, request, registry=registry)
            assert est.calls > 0 and est.mode == "offline" and w.tick == 0 and not w.sessions
        report = await run_cascades(w, request, registry=registry)
        results.append((w.tick, report["runs"][0]["reached"], [s.state.tolist() for s in w.sessions]))
    assert results[0] == results[1]


def test_the_local_models_times_follow_the_load():
    """At the profile's load its own times; at twice the load per core twice as long; on an idle machine the share
    of a core it lost at the profile's load comes back."""
    from sim.llm.estimate import PROFILE_LOAD, at_load

    same = at_load(LOCAL_PROFILE, PROFILE_LOAD, 2)
    assert same.call_seconds("decision", 150) == pytest.approx(LOCAL_PROFILE.call_seconds("decision", 150))
    busy = at_load(LOCAL_PROFILE, 2 * PROFILE_LOAD, 2)
    assert busy.call_seconds("text", 150) == pytest.approx(2 * LOCAL_PROFILE.call_seconds("text", 150))
    idle = at_load(LOCAL_PROFILE, 0.5, 2)
    assert idle.call_seconds("text", 150) == pytest.approx(LOCAL_PROFILE.call_seconds("text", 150) / (PROFILE_LOAD / 2))
    assert "load now (0.5 on 2 cores" in idle.rate_source
