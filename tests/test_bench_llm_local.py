"""``agora bench llm --local`` (issue 62): the real local model beside the fake server, decisions with the JSON
schema and without, and interviews. Without the local-llm extra it is one sentence and exit 2; the run on the real
model is marked ``local_llm`` (skipped, saying why, where the extra is missing) and ``slow``.
"""

from __future__ import annotations

import json

import pytest

from sim.bench.llm_local import AGENTS, decision_prompts
from sim.cli.main import main
from sim.llm import local
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
    """Decision prompts as a run builds them (the persona, a post quoted as data, the JSON asked for), drawn from
    a generated world: no two alike; interviews ask the question in persona."""
    decisions, interviews = decision_prompts(12, seed=3)
    assert len(decisions) == len(interviews) == 12 and AGENTS >= 12
    assert len({json.dumps(m) for m in decisions}) == 12
    for m in decisions:
        system, user = m[0]["content"], m[1]["content"]
        assert system.startswith("You are ") and "this post by" in user and '"action"' in user
    assert all("An interviewer asks you:" in m[1]["content"] for m in interviews)
    assert decision_prompts(12, seed=3) == (decisions, interviews)
    assert parse_decision('{"action": "like", "text": ""}').action == "like"  # what the answers are read with


@pytest.mark.local_llm
@pytest.mark.slow
def test_a_tiny_bench_on_the_real_model_reports_its_figures(capsys):
    code, out, err = cli(capsys, "bench", "llm", "--local", "--decisions", "2", "--interviews", "1", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["benchmark"] == "llm-local" and r["decisions"] == 2 and r["interviews"] == 1
    assert r["model"]["name"].startswith("SmolLM2") and r["startup_s"] > 0 and r["threads"] >= 1
    assert len(r["load_average"]["start"]) == len(r["load_average"]["end"]) == 3
    for server in ("local", "fake"):
        for way in ("schema", "plain", "interview"):
            f = r[server][way]
            assert f["count"] == (1 if way == "interview" else 2)
            assert isinstance(f["parse_share"], float | int) and 0.0 <= f["parse_share"] <= 1.0
            assert f["parse_share"] == pytest.approx(f["parsed"] / f["count"])
            assert f["p50_ms"] > 0 and f["p95_ms"] >= f["p50_ms"] and f["per_second"] > 0
            assert isinstance(f["sample"], str) and len(f["sample"]) <= 200
            if way != "interview":
                assert 0 <= f["copied_example"] <= f["parsed"] and sum(f["why_not"].values()) == 2 - f["parsed"]
        assert r[server]["stats"]["failures"] == 0
    # The fake server answers decisions in the schema's shape either way; llama.cpp takes json_object.
    assert r["fake"]["schema"]["parse_share"] == r["fake"]["plain"]["parse_share"] == 1.0
    assert r["local"]["schema_form"] == "json_object" and r["fake"]["schema_form"] == "json_schema"
    # Every decision reached the model (cache off): two ways, the warm-up and the interview.
    assert r["local"]["stats"]["calls"] == 2 * 2 + 1 + 1 and r["local"]["stats"]["cache_hits"] == 0
    assert isinstance(r["target_met"], bool) and r["target_parse_share"] == 0.95
