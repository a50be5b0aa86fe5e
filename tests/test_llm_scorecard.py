"""The fidelity scorecard (issue 76): the llm, archetype and distilled-policy arms side by side, on the fake
server playing the model (``agora_testing.fakeserver``, a real server on 127.0.0.1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora, digest, one_sentence

from agora_testing.fakeserver import ACTIONS, FakeChatServer
from sim.plugin import archetypes as arch
from sim.runs.llmscore import divergence, js_divergence

KEY = "sk-agora-test-scorecard"


def test_js_divergence_is_zero_for_the_same_and_one_for_disjoint():
    assert js_divergence(np.array([1, 2, 3, 4]), np.array([2, 4, 6, 8])) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(np.array([1, 0, 0, 0]), np.array([0, 0, 0, 5])) == pytest.approx(1.0)
    # scipy's jensenshannon is the square root of the divergence (base 2)
    from scipy.spatial.distance import jensenshannon

    p, q = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.4, 0.3, 0.2, 0.1])
    assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2)


def test_divergence_reports_only_situations_both_arms_saw_enough():
    ref = np.zeros((arch.SITUATIONS, 4), dtype=np.int64)
    other = np.zeros_like(ref)
    ref[0] = [10, 10, 10, 10]
    other[0] = [40, 0, 0, 0]
    ref[3] = [50, 0, 0, 0]
    other[3] = [5, 0, 0, 0]  # too few of the other arm's
    d = divergence(ref, other)
    assert [r["contacts"] for r in d["situations"]] == ["none"]
    assert d["mean_js"] == d["situations"][0]["js"] > 0.3


def _answer(messages):
    """A model whose decisions depend on the agent: agents interested in health repost, the others ignore; an
    archetype's probabilities say the same of its group."""
    text = json.dumps(messages)
    likes = "health" in text  # the topic is named only among an agent's interests
    if "four probabilities" in text:
        interested = "topic is among its interests" in text
        return json.dumps(
            {"repost": 0.8 if interested else 0.05, "reply": 0.0, "like": 0.1, "ignore": 0.1 if interested else 0.85}
        )
    if "action" in text:
        return json.dumps({"action": "repost" if likes else "ignore", "text": "ok"})
    return "fine"


def test_the_scorecard_sets_the_three_arms_side_by_side_and_leaves_the_world(tmp_path):
    assert agora(tmp_path, "new", "w.db", "--agents", "1200", "--seed", "2").returncode == 0
    before = digest(tmp_path / "w.db")
    srv = FakeChatServer(latency=0.001, answer=_answer).start_in_thread()
    try:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": srv.url}
        done = agora(
            tmp_path,
            "llm",
            "scorecard",
            "w.db",
            "--inject",
            "Flu shots are free this week",
            "--topic",
            "health",
            "--runs",
            "3",
            "--llm-archetypes",
            "5",
            "--json",
            env=env,
        )
    finally:
        srv.stop_thread()
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    arms = card["arms"]
    assert set(arms) == {"llm", "archetypes", "policy"}
    assert arms["llm"]["calls"] + arms["llm"]["cache_hits"] >= arms["llm"]["decisions"] > 100
    assert 0 < arms["archetypes"]["calls"] <= 5 * arch.SITUATIONS
    assert arms["policy"]["calls"] == 0 and arms["policy"]["cache_hits"] == 0
    assert all(len(a["cascade_sizes"]) == 3 for a in arms.values())
    # The model's rule (interest in the topic) is what a policy can learn: it agrees far above always-ignore.
    assert card["agreement"]["policy"]["agreement"] > 0.9 > card["agreement"]["commonest"]["agreement"]
    for name in ("archetypes", "policy"):
        d = card["divergence"][name]
        assert d["situations"] and 0.0 <= d["mean_js"] <= 1.0
        assert set(card["cascade_ks"][name]) == {"statistic", "pvalue"}
    assert digest(tmp_path / "w.db") == before  # every arm ran on a fork


def test_a_scorecard_needs_a_model_and_a_message(tmp_path):
    assert agora(tmp_path, "new", "w.db", "--agents", "200").returncode == 0
    done = agora(tmp_path, "llm", "scorecard", "w.db", "--inject", "x", env={"OPENAI_API_KEY": ""})
    assert done.returncode == 2 and "needs one" in one_sentence(done)
    done = agora(tmp_path, "llm", "scorecard", "w.db", env={"OPENAI_API_KEY": KEY})
    assert done.returncode == 2 and "--inject" in one_sentence(done)
    done = agora(
        tmp_path,
        "llm",
        "scorecard",
        "w.db",
        "--inject",
        "x",
        "--llm-archetypes",
        "age",
        env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    assert done.returncode == 2 and "lacks" in one_sentence(done)
    assert ACTIONS  # the fake server's actions are the model's


def test_bench_llm_scorecard_reports_the_arms_time_and_memory(tmp_path):
    done = agora(tmp_path, "bench", "llm", "--scorecard", "--agents", "400", "--replicates", "2", "--json")
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["benchmark"] == "llm-scorecard" and r["server"] == "fake" and r["agents"] == 400
    assert r["arms"]["policy"]["calls"] == 0 < r["arms"]["archetypes"]["calls"] <= 8 * arch.SITUATIONS
    assert r["total_s"] > 0 and r["peak_rss_mb"] > 0
    done = agora(tmp_path, "bench", "llm", "--replicates", "2")
    assert done.returncode == 2 and "--scorecard" in one_sentence(done)
