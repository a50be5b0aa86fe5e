"""The social-layer benchmark at a small size: its structure, and that every recommender did work."""

from __future__ import annotations

import json

import pytest

from sim.bench.social import CONTENT_RECOMMENDERS, FRIEND_RECOMMENDERS, TARGETS, bench_social


@pytest.fixture(scope="module")
def result():
    seen: list[tuple[str, float]] = []
    r = bench_social(agents=3000, ticks=2, messages=3, seed=7, progress=lambda label, f: seen.append((label, f)))
    r["_progress"] = seen
    return r


def test_structure_and_json(result):
    r = dict(result)
    progress = r.pop("_progress")
    json.dumps(r)  # JSON-able
    for key in (
        "agents",
        "edges",
        "online",
        "k",
        "content",
        "friends",
        "merge",
        "learn",
        "baseline",
        "memory",
        "peak_rss_mb",
        "targets",
        "within_targets",
        "notes",
    ):
        assert key in r, key
    assert r["agents"] == 3000 and r["k"] == 10 and r["ticks"] == 2
    assert r["edges"] > 0
    assert r["online_agents"] == 300  # exactly 10 %
    assert set(r["content"]) == set(CONTENT_RECOMMENDERS)
    assert set(r["friends"]) == set(FRIEND_RECOMMENDERS)
    assert r["targets"] == TARGETS
    assert set(r["within_targets"]) == set(TARGETS)
    assert any(label.startswith("feeds: ") for label, _ in progress)
    assert all(0.0 <= f <= 1.0 for _, f in progress)


def test_every_content_recommender_fills_feeds(result):
    assert len(result["sessions"]["live_reached"]) == 3
    assert all(x > 0 for x in result["sessions"]["history_reached"])
    for name, v in result["content"].items():
        assert len(v["ms_per_tick"]) == 2, name
        assert v["items_per_tick_median"] > 0, name
        assert 0 < v["readers_served_share"] <= 1, name
        assert v["new_exposures_first_tick"] > 0, name  # counted from scratch for each recommender
        assert v["ms_median"] > 0 and v["ms_max"] >= v["ms_median"], name
        assert v["score_ms"] > 0, name
        assert v["ratio_to_gather_baseline"] > 0 and v["ratio_to_topk_baseline"] > 0, name
        assert isinstance(v["within_target"], bool)
        # At most K items per reader and tick.
        assert v["items_per_tick_median"] <= result["k"] * result["online_agents"], name
    # Feeds that show every live message to everyone: 3 messages per reader, minus adopted and own ones.
    assert result["content"]["random"]["items_per_reader"] <= 3


def test_friends_merge_learn_memory(result):
    for name, v in result["friends"].items():
        assert v["ms_median"] > 0 and v["suggest_ms"] > 0, name
        assert v["candidate_pairs"] > 0, name
        assert v["follows_per_tick_median"] > 0, name
    m = result["merge"]
    assert m["ms"] > 0 and m["changed_edges"] > 0
    assert m["edges_after"] == result["edges"] + m["follows"] - m["unfollows"]
    assert result["learn"]["ms_median"] > 0
    b = result["baseline"]
    assert b["gather_followees_ms_median"] > 0 and b["gather_followees_entries"] > 0
    mem = result["memory"]
    assert mem["world_array_mb"] > 0 and mem["sessions_array_mb"] > 0
    assert result["peak_rss_mb"] >= mem["rss_after_world_mb"] > 0
