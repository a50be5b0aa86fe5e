"""A faster local model (issue 76): prompts whose shared parts come first, several servers (slots) behind the client,
llama.cpp's prompt cache, and what the servers say of the prompt tokens they reused.

Tests marked ``local_llm`` start the real model (SmolLM2-135M-Instruct); they are skipped, with the reason, where the
local-llm extra is not installed (tests/conftest.py). The others need no server.
"""

from __future__ import annotations

import os
import re
import tempfile

import pytest

from sim.cli.main import main
from sim.core.persona import Persona
from sim.errors import BadParameterError
from sim.llm import local, prompts
from sim.llm.estimate import KIND_MARKERS, kind_of

ADA = Persona("Ada Quill", "A nurse in Leeds who reads about science on her breaks.", "plain and brief")
BO = Persona("Bo Lind", "A carpenter in Malmo who distrusts headlines.", "dry humour")
CY = Persona("Cy Okafor", "A student in Lagos who follows football and music.", "excited, lots of questions")
#: A decision's start, as the schema makes the model write it: its action (the text after it may be cut by max_tokens).
ACTION = re.compile(r'\s*\{\s*"action"\s*:\s*"(repost|like|reply|ignore)"')
POSTS = (
    "New study: a four-day week cut burnout among hospital staff by a third.",
    "The city will close the old bridge for repairs all summer.",
    "A local band plays a free concert in the park on Saturday.",
)


def common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def rendered(messages: list[dict[str, str]]) -> str:
    """The prompt's text in order, as a chat template lays it out (each message's content, system first)."""
    return "\n".join(m["content"] for m in messages)


# -- the prompt's order ---------------------------------------------------------------------------------------


def test_decisions_of_different_agents_share_the_instructions_and_of_one_agent_the_persona_too():
    """The instructions come first (every decision's), then the persona, then the situation: two agents' prompts
    share the whole instruction text as a prefix; one agent's two prompts share its persona too; the post, its
    author and its sharer come after both."""
    a1 = rendered(prompts.decision_prompt(ADA, ["health"], POSTS[0], author="Dr. Lee"))
    a2 = rendered(prompts.decision_prompt(ADA, ["health"], POSTS[1], author="Mayor", sharer="Bo Lind"))
    b1 = rendered(prompts.decision_prompt(BO, ["crafts"], POSTS[0], author="Dr. Lee"))
    head = f"{prompts.ROLE} {prompts.DECISION_TASK} You are "
    assert a1.startswith(head) and b1.startswith(head)
    assert common_prefix(a1, b1) == len(head)  # the names differ right after the instructions
    persona_end = a1.index("You are interested in: health.") + len("You are interested in: health.")
    assert common_prefix(a1, a2) >= persona_end
    assert a1.index(POSTS[0]) > persona_end and a2.index("Bo Lind shared") > persona_end
    # What the decision asks is said once in the instructions, and the estimate still tells a decision apart.
    assert KIND_MARKERS["decision"] in a1 and kind_of(prompts.decision_prompt(ADA, [], "x")) == "decision"
    assert a1.count('"action"') == 1 and a1.rstrip().endswith("What do you do? Answer with the JSON object.")


def test_every_kind_of_prompt_starts_with_the_same_role_before_the_persona():
    kinds = [
        prompts.decision_prompt(ADA, [], POSTS[0]),
        prompts.post_prompt(ADA, [], "post", topics=["health"]),
        prompts.interview_prompt(ADA, [], "How are you?"),
        prompts.summary_prompt(ADA, [], "", ["tick 1: you saw a post"]),
    ]
    for messages in kinds:
        system = messages[0]["content"]
        assert system.startswith(prompts.ROLE) and system.index("You are Ada Quill.") > len(prompts.ROLE)


# -- slots and settings -----------------------------------------------------------------------------------------


def test_the_local_model_runs_one_server_per_request_in_flight():
    assert local.LOCAL_DEFAULTS["concurrency"] == local.SLOTS >= 1
    assert [local.slots_for(c) for c in (1, 2, 3, local.MAX_SLOTS, 64)] == [1, 2, 3, local.MAX_SLOTS, local.MAX_SLOTS]
    ask, rest = local.split({"local": True})
    assert ask is not None and rest is not None and rest["concurrency"] == local.SLOTS
    assert local.split({"local": True, "concurrency": 1})[1]["concurrency"] == 1  # type: ignore[index]
    pool = local.LocalPool(slots=3, prompt_cache=False)
    assert pool.slots == 3 and len({id(s) for s in pool.servers}) == 3
    assert len({s._given_key for s in pool.servers}) == 1  # one key for the client to send to all
    for bad in (0, local.MAX_SLOTS + 1):
        with pytest.raises(BadParameterError, match="slots must be between"):
            local.LocalPool(slots=bad)
    with pytest.raises(BadParameterError, match="cache_bytes"):
        local.LocalServer(cache_bytes=10)


def test_the_prompt_reuse_is_read_from_the_servers_verbose_output():
    """What llama.cpp's binding prints per prompt: tokens reused from the previous prompt or restored from the
    prompt cache; only what came after the mark counts."""
    server = local.LocalServer(verbose=True)
    before = "Llama.generate: 40 prefix-match hit, remaining 10 prompt tokens to eval\n"
    after = (
        "Llama._create_completion: cache miss\n"
        "Llama.generate: 117 prefix-match hit, remaining 100 prompt tokens to eval\n"
        "llama_perf_context_print: prompt eval time = 1579.67 ms / 100 tokens\n"
        "Llama._create_completion: cache hit\n"
        "Llama.generate: 190 prefix-match hit, remaining 12 prompt tokens to eval\n"
        "Llama._create_completion: cache miss\n"  # a prompt that reused nothing says nothing more
    )
    fd, path = tempfile.mkstemp()
    os.unlink(path)
    try:
        os.write(fd, before.encode())
        server._log = fd
        mark = server.log_size()
        os.write(fd, after.encode())
        assert server.prompt_reuse(mark) == local.PromptReuse(tokens=307, prompts=2, restored=1)
        assert server.prompt_reuse() == local.PromptReuse(tokens=347, prompts=3, restored=1)
    finally:
        server._log = None
        os.close(fd)


def test_bench_flags_of_the_local_model_are_refused_elsewhere_in_one_sentence(capsys):
    for words, says in (
        (("--slots", "2"), "--slots is for the local model"),
        (("--prompt-cache", "on"), "--prompt-cache is for the local model"),
        (("--scorecard", "--slots", "2"), "--slots is for the local model's throughput"),
        (("--local", "--slots", str(local.MAX_SLOTS + 1)), f"--slots must be at most {local.MAX_SLOTS}"),
    ):
        code = main(["bench", "llm", *words])
        out = capsys.readouterr()
        lines = out.err.strip().splitlines()
        assert code == 2 and out.out == "" and len(lines) == 1 and says in lines[0], out.err


# -- on the real model ---------------------------------------------------------------------------------------------


def _decide(server: local.LocalServer, messages: list[dict[str, str]]) -> str:
    body = {
        "messages": messages,
        "max_tokens": 24,  # the action comes first: the decisions compared are the first 24 tokens
        "temperature": 0.0,
        "response_format": {"type": "json_object", "schema": prompts.DECISION_SCHEMA},
    }
    out = local.request("POST", f"{server.base_url}/chat/completions", server.api_key, body, timeout=300)
    return str(out["choices"][0]["message"]["content"])


@pytest.mark.local_llm
def test_the_same_decisions_come_back_at_temperature_0_with_the_prompt_cache_on_and_off():
    """Three agents, each deciding on several posts, asked in an order where an agent comes back after another:
    with the prompt cache on, its earlier state (instructions and persona) is restored; off, only the instructions
    shared with the previous prompt are reused. The answers are the same, word for word."""
    order = [(ADA, 0), (BO, 0), (ADA, 1), (CY, 0), (BO, 1), (ADA, 2), (CY, 1)]
    asked = [prompts.decision_prompt(p, ["news"], POSTS[k], author="Dr. Lee") for p, k in order]
    answers, reuse = {}, {}
    for cache in (True, False):
        with local.LocalServer(prompt_cache=cache, verbose=True) as server:
            mark = server.log_size()
            answers[cache] = [_decide(server, m) for m in asked]
            reuse[cache] = server.prompt_reuse(mark)
    assert answers[True] == answers[False], answers
    assert all(ACTION.match(a) for a in answers[True]), answers  # the action comes first (the text may be cut)
    # Both reused the instructions every time; only the cache restored an agent's own earlier state (ADA, BO, ADA,
    # CY come back), so it reused more.
    assert reuse[False].prompts == reuse[True].prompts == len(asked) and reuse[False].restored == 0
    assert reuse[True].restored >= 3 and reuse[True].tokens > reuse[False].tokens, reuse


@pytest.mark.local_llm
def test_the_grammar_checked_once_a_token_gives_the_same_decisions_at_temperature_0():
    """:mod:`sim.llm.lazygrammar` draws without the grammar and checks the token it drew: at temperature 0 the
    answers are word for word those of llama-cpp-python's chain, which runs the grammar over the whole vocabulary
    first."""
    asked = [prompts.decision_prompt(p, ["news"], POSTS[k], author="Dr. Lee") for p, k in ((ADA, 0), (BO, 1), (CY, 2))]
    answers = {}
    for lazy in (True, False):
        # The model's file given (so served as it is both times): only the sampling differs.
        with local.LocalServer(local.default_model(), stock=not lazy) as server:
            answers[lazy] = [_decide(server, m) for m in asked]
            said = server.log_tail(lines=200)
        assert ("lazy grammar sampling on" in said) == lazy, said
    assert answers[True] == answers[False], answers
    assert all(ACTION.match(a) for a in answers[True]), answers


def test_a_model_that_cannot_be_reencoded_is_served_as_it_ships(tmp_path, monkeypatch):
    """Where the cache folder cannot be made (here a file stands in its way), nothing fails and nothing runs: the
    model's own file is served."""
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(local.subprocess, "run", lambda *a, **k: pytest.fail("nothing to run"))
    assert local.reencoded(model) == model


@pytest.mark.local_llm
def test_the_default_model_is_reencoded_once_and_served_under_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = local.default_model()
    copy = local.reencoded(source)
    assert copy.parent == tmp_path / "agora" / "models" and copy.name.endswith(".Q8_0.gguf")
    assert local.check_model(copy) == copy and copy.stat().st_size > source.stat().st_size  # 8 bits a weight, not 4
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no partial file left
    monkeypatch.setattr(local.subprocess, "run", lambda *a, **k: pytest.fail("made twice"))
    assert local.reencoded(source) == copy
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\xff" * 256)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert local.reencoded(broken) == broken  # llama.cpp refuses it: served (and refused) as it is
    with local.LocalServer() as server:
        assert server.served_file == copy and server.model == source
        assert server.model_name == local.MODEL_FILE.removesuffix(".gguf")
