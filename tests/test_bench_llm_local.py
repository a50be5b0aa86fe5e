"""``agora bench llm --local`` (issues 62 and 76): the real local model as served now beside the baseline (as served
before issue 76) and the fake server: decisions with the JSON schema (the throughput) and without, and interviews.
Without the local-llm extra it is one sentence and exit 2; the run on the real model is marked ``local_llm``
(skipped, saying why, where the extra is missing) and ``slow``.
"""

from __future__ import annotations

import json

import pytest

from sim.bench.llm_local import AGENTS, bench_prompts, decision_prompts
from sim.cli.main import main
from sim.llm import local, prompts
from sim.llm.prompts import parse_decision


def cli(capsys, *words: str) -> tuple[int, str, str]:
    code = main(list(words))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_without_the_extra_it_is_one_sentence_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(local, "SERVER_MODULES", (*local.SERVER_MODULES, "agora_no_such_module"))
    code, out, err = cli(capsys, "bench", "llm", "--local", "--decisions", "2", "--json")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1, err
    assert "local-llm extra" in lines[0] and "agora_no_such_module" in lines[0]


def test_the_local_flags_without_local_and_a_bad_model_file_are_one_sentence(tmp_path, capsys):
    for words in (("--decisions", "5"), ("--interviews", "2")):
        code, out, err = cli(capsys, "bench", "llm", *words)
        assert code == 2 and out == "" and "--local" in err and len(err.strip().splitlines()) == 1, err
    not_gguf = tmp_path / "m.gguf"
    not_gguf.write_bytes(b"not a model at all")
    code, out, err = cli(capsys, "bench", "llm", "--local", "--llm-model", str(not_gguf))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "GGUF" in err, err


def test_the_prompts_are_real_decision_prompts_and_all_different():
    """Decision prompts as a run builds them (the instructions, the persona, a post quoted as data), drawn from
    a generated world: no two alike; the baseline's are the same decisions as Agora built them before issue 76
    (the persona first, the instruction last); interviews ask the question in persona."""
    p = bench_prompts(12, seed=3)
    decisions, interviews = decision_prompts(12, seed=3)
    assert (decisions, interviews) == (p.decisions, p.interviews) and len(p.baseline) == 12 and AGENTS >= 12
    assert len({json.dumps(m) for m in decisions}) == 12
    for m, old in zip(decisions, p.baseline, strict=True):
        system, user = m[0]["content"], m[1]["content"]
        assert system.startswith(prompts.ROLE) and '"action"' in system and "this post by" in user
        assert old[0]["content"].startswith("You are ") and '"action"' in old[1]["content"]
        name = old[0]["content"].removeprefix("You are ").split(",", 1)[0]
        assert f"You are {name}." in system and user.split(" What do you do?")[0] in old[1]["content"]
    assert all("An interviewer asks you:" in m[1]["content"] for m in interviews)
    assert bench_prompts(12, seed=3) == p
    assert parse_decision('{"action": "like", "text": ""}').action == "like"  # what the answers are read with


@pytest.mark.local_llm
@pytest.mark.slow
def test_a_tiny_bench_on_the_real_model_reports_its_figures(capsys):
    words = ("bench", "llm", "--local", "--decisions", "3", "--interviews", "1", "--slots", "2", "--json")
    code, out, err = cli(capsys, *words)
    assert code == 0, err
    r = json.loads(out)
    assert r["benchmark"] == "llm-local" and r["decisions"] == r["plain"] == 3 and r["interviews"] == 1
    assert r["model"]["name"].startswith("SmolLM2") and r["startup_s"] > 0 and r["threads"] >= 1
    assert r["slots"] == 2 and len(r["servers_rss_mb"]["local"]) == 2 and len(r["servers_rss_mb"]["baseline"]) == 1
    assert len(r["load_average"]["start"]) == len(r["load_average"]["end"]) == 3
    for server, ways in (("local", ("schema", "plain", "interview")), ("baseline", ("schema",)), ("fake", ("schema",))):
        for way in ways:
            f = r[server][way]
            assert f["count"] == (1 if way == "interview" else 3)
            assert isinstance(f["parse_share"], float | int) and 0.0 <= f["parse_share"] <= 1.0
            assert f["parse_share"] == pytest.approx(f["parsed"] / f["count"])
            assert f["p50_ms"] > 0 and f["p95_ms"] >= f["p50_ms"] and f["per_second"] > 0 and f["wall_s"] > 0
            # wall_s is rounded to the millisecond: the rate lies between the bounds that rounding allows
            lo, hi = f["parsed"] / (f["wall_s"] + 0.0005), f["parsed"] / max(f["wall_s"] - 0.0005, 1e-9)
            assert lo - 0.002 <= f["valid_per_second"] <= hi + 0.002
            assert isinstance(f["sample"], str) and len(f["sample"]) <= 200
            if way != "interview":
                assert 0 <= f["copied_example"] <= f["parsed"] and sum(f["why_not"].values()) == 3 - f["parsed"]
        assert r[server]["stats"]["failures"] == 0
    assert r["local"]["setup"]["slots"] == 2 and r["baseline"]["setup"]["slots"] == 1
    # What the servers say they reused: the baseline's prompts share little (the persona comes first), the local
    # model's share the instructions.
    for server in ("local", "baseline"):
        c = r[server]["prompt_cache"]
        assert (
            c["prompt_tokens"] == r[server]["schema"]["tokens_in"] > 0 and 0 <= c["reused_tokens"] <= c["prompt_tokens"]
        )
        assert c["hit_rate"] == pytest.approx(c["reused_tokens"] / c["prompt_tokens"], abs=1e-4)
    assert r["local"]["prompt_cache"]["hit_rate"] > 0.3 > r["baseline"]["prompt_cache"]["hit_rate"]
    # The fake server answers decisions in the schema's shape either way; llama.cpp takes json_object.
    assert r["fake"]["schema"]["parse_share"] == r["fake"]["plain"]["parse_share"] == 1.0
    assert r["local"]["schema_form"] == "json_object" and r["fake"]["schema_form"] == "json_schema"
    # Every decision reached the model (cache off): the throughput's, one warm-up per server, the plain ones and
    # the interview.
    assert r["local"]["stats"]["calls"] == 3 + 2 + 3 + 1 and r["local"]["stats"]["cache_hits"] == 0
    assert r["baseline"]["stats"]["calls"] == 3 + 1
    assert isinstance(r["target_met"], bool) and r["targets"]["parse_share"] == 0.95
    assert r["targets"]["valid_per_second"] == 1.0 and isinstance(r["load_within_target"], bool)
