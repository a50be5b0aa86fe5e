"""The living network: content and friend recommenders on hand-made worlds where the right answer is
known, feed exposures reaching agents outside the follower graph, follows and unfollows merged in
bulk, churn and lifecycle, reputation and trust moving the right way, persistence and determinism."""

from __future__ import annotations

import asyncio
import sqlite3

import numpy as np
import pytest

from sim.core.graph import Graph
from sim.core.topics import topics_mask
from sim.core.world import Status, build_world
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.plugin import ContentRecommender, FriendRecommender, aggregate_pairs
from sim.social.dynamics import FeedContext, SocialTick, compatibility, follows, top_k_per_row
from sim.store.create import synthetic_world
from sim.store.snapshot import load_snapshot, save_snapshot
from sim.store.worldfile import open_world, save_world
from sim.store.writer import WorldWriter


def hand_world(n: int, edges: list[tuple[int, int]], seed: int = 1):
    """A world of ``n`` agents with edges ``(followed, follower)``; every agent active."""
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    return build_world("hand", seed, n, src, dst)


def inject_with_adopters(sim: Simulation, text: str, adopters: dict[int, int], topics=(), author=None):
    """A running IC session (p=0, so nothing spreads by itself) whose adopters and their adoption ticks
    are set by hand."""
    first = min(adopters, key=adopters.get)
    s = sim.inject(text, topics=list(topics), seeds=f"ids:{first}", model="ic", params={"p": 0.0}, author=author)
    return s


async def started(sim: Simulation, sessions, adopters_list):
    """Start the sessions (one tick) and give them their hand-made adopters."""
    await sim.step()
    for s, adopters in zip(sessions, adopters_list):
        assert s.status == "running" or s.status == "completed"
        s.status = "running"
        for agent, tick in adopters.items():
            s.state[agent] = 1
            s.adopted_at[agent] = tick
        s.reached = len(adopters)


def feed_of(sim: Simulation, reader: int, tick: int = 50) -> list[tuple[int, int]]:
    """(session id, credited sharer) of ``reader``'s feed, best first."""
    online = np.zeros(sim.world.n, dtype=bool)
    online[reader] = True
    live = [s for s in sim.world.sessions if s.status == "running"]
    rec = sim.social.content_recommender(sim.social.settings["recommender"])
    ctx = FeedContext(sim.world, np.array([reader], dtype=np.int32), live, tick, np.random.default_rng(0), rec.p)
    answer = rec.score(ctx)
    scores, sharers = answer if isinstance(answer, tuple) else (answer, None)
    rows, cols = top_k_per_row(scores, sim.social.settings["feed_size"])
    return [(live[c].id, -1 if sharers is None else int(sharers[r, c])) for r, c in zip(rows, cols)]


# -- content recommenders ---------------------------------------------------------------------------


def test_chronological_shows_followees_shares_newest_first():
    # reader 0 follows 1 and 2; agent 5 is not followed by 0
    w = hand_world(6, [(1, 0), (2, 0), (3, 5)])
    sim = Simulation(w)
    sim.social.configure(recommender="chronological")
    m1 = inject_with_adopters(sim, "m1", {1: 2})
    m2 = inject_with_adopters(sim, "m2", {2: 4})
    m3 = inject_with_adopters(sim, "m3", {5: 6})
    asyncio.run(started(sim, [m1, m2, m3], [{1: 2}, {2: 4}, {5: 6}]))
    assert feed_of(sim, 0) == [(m2.id, 2), (m1.id, 1)]
    # a followee who wrote the message counts as a share at the message's creation tick
    m4 = sim.inject("m4", seeds="ids:4", model="ic", params={"p": 0.0}, author=2)
    asyncio.run(started(sim, [m4], [{4: 0}]))
    m4.message["created_tick"] = 9
    assert feed_of(sim, 0)[0] == (m4.id, 2)


def test_hot_ranks_by_adoptions_and_age():
    w = hand_world(4, [(1, 0)])
    w.config["minutes_per_tick"] = 60
    sim = Simulation(w)
    sim.social.configure(recommender="hot", recommender_params={"half_life": 1.0})
    ms = [inject_with_adopters(sim, f"m{i}", {1: 0}) for i in range(3)]
    asyncio.run(started(sim, ms, [{1: 0}] * 3))
    for s, (created, reached) in zip(ms, [(0, 100), (1, 1), (3, 1)]):
        s.message["created_tick"] = created
        s.reached = reached
    # scores: log10(100) + 0 = 2, 0 + 1 = 1, 0 + 3 = 3
    assert [sid for sid, _ in feed_of(sim, 3)] == [ms[2].id, ms[0].id, ms[1].id]


def test_interest_ranks_by_topic_match_and_hides_unrelated():
    w = hand_world(4, [(1, 0)])
    w.columns["interests"][2] = topics_mask(["politics", "ai"])
    sim = Simulation(w)
    sim.social.configure(recommender="interest")
    a = inject_with_adopters(sim, "half", {1: 0}, topics=["politics", "crypto"])
    b = inject_with_adopters(sim, "full", {1: 0}, topics=["ai"])
    c = inject_with_adopters(sim, "none", {1: 0}, topics=["crypto"])
    asyncio.run(started(sim, [a, b, c], [{1: 0}] * 3))
    assert [sid for sid, _ in feed_of(sim, 2)] == [b.id, a.id]


def test_collaborative_follows_co_adoption_history():
    w = hand_world(30, [(1, 0)])
    sim = Simulation(w)
    sim.social.configure(recommender="collaborative")
    past = inject_with_adopters(sim, "past", {10: 0})
    m1 = inject_with_adopters(sim, "like past", {10: 0})
    m2 = inject_with_adopters(sim, "unrelated", {20: 0})
    asyncio.run(
        started(sim, [past, m1, m2], [{10: 0, 11: 0, 12: 0, 14: 0}, {10: 1, 11: 1, 12: 1, 13: 1}, {20: 1, 21: 1}])
    )
    past.status = "completed"
    # reader 14 adopted `past`, whose adopters overlap m1's: m1 is recommended, m2 is not
    assert [sid for sid, _ in feed_of(sim, 14)] == [m1.id]
    # reader 25 has no history: nothing to recommend
    assert feed_of(sim, 25) == []


def test_social_proof_counts_adopting_followees():
    w = hand_world(6, [(1, 0), (2, 0), (3, 0)])
    sim = Simulation(w)
    sim.social.configure(recommender="social-proof")
    m1 = inject_with_adopters(sim, "m1", {1: 0})
    m2 = inject_with_adopters(sim, "m2", {1: 0})
    asyncio.run(started(sim, [m1, m2], [{1: 1}, {1: 0, 2: 2, 3: 3}]))
    assert feed_of(sim, 0) == [(m2.id, 3), (m1.id, 1)]
    sim.social.configure(recommender="social-proof", recommender_params={"min_followees": 2})
    assert feed_of(sim, 0) == [(m2.id, 3)]


def test_random_feed_covers_messages_and_is_seeded():
    w = synthetic_world("r", 2000, avg_degree=6, seed=3)
    sim = Simulation(w)
    sim.social.configure(recommender="random", feed_size=1)
    ms = [sim.inject(f"m{i}", seeds="random:3", model="ic", params={"p": 0.0}) for i in range(4)]
    asyncio.run(sim.step())
    for s in ms:
        s.status = "running"
    online = np.ones(w.n, dtype=bool)
    first = sim.social.feeds(7, online, ms, SocialTick())
    again = sim.social.feeds(7, online, ms, SocialTick())
    counts = [first[s.id][0].size for s in ms]
    # one slot per reader: every reader gets exactly one item (the 12 seeds can still see the others)
    readers = np.concatenate([first[s.id][0] for s in ms])
    assert readers.size == w.n and np.unique(readers).size == w.n
    assert min(counts) > 0.2 * w.n  # each of 4 messages gets about a quarter of the slots
    assert all(np.array_equal(first[s.id][0], again[s.id][0]) for s in ms)


def test_feeds_keep_k_per_online_reader_and_skip_adopted_and_authored():
    w = hand_world(5, [(1, 0), (1, 2), (1, 3)])
    sim = Simulation(w)
    sim.social.configure(recommender="random", feed_size=2)
    ms = [sim.inject(f"m{i}", seeds="ids:1", model="ic", params={"p": 0.0}, author=4) for i in range(3)]
    asyncio.run(started(sim, ms, [{1: 0}] * 3))
    ms[0].state[2] = 1  # agent 2 adopted m0 already
    online = np.array([False, True, True, True, True])
    feeds = sim.social.feeds(5, online, ms, SocialTick())
    shown = {(int(a), sid) for sid, (ag, _) in feeds.items() for a in ag}
    per_reader = {r: sum(1 for a, _ in shown if a == r) for r in range(5)}
    assert per_reader[0] == 0  # offline
    assert per_reader[2] == 2 and (2, ms[0].id) not in shown
    assert per_reader[3] == 2
    assert per_reader[4] == 0  # the author
    assert per_reader[1] == 0  # adopted them all
    # the credited sharer of a recommender without sharers is the author
    assert all((src == 4).all() for _, (_, src) in feeds.items())
    # first exposures are counted once
    again = sim.social.feeds(6, online, ms, SocialTick())
    assert sum(s.feed_exposed for s in ms) == len(shown)
    assert again is not None


def test_feed_exposures_reach_agents_outside_the_follower_graph(tmp_path):
    # 0 -> 1 -> 2 is the only path; agents 3..9 have no edge at all
    w = hand_world(10, [(0, 1), (1, 2)])
    w.columns["activity_rate"][:] = 1.0
    w.columns["activity_profile"][:] = 5  # always on
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(w, path))

    async def go():
        world = await open_world(path)
        writer = await WorldWriter(path).start()
        sim = Simulation(world, writer=writer)
        sim.social.configure(recommender="random", feed_size=5)
        s = sim.inject("spread", seeds="ids:0", model="ic", params={"p": 1.0})
        for _ in range(4):
            await sim.step()
        await sim.checkpoint()
        await writer.close()
        return sim, s

    sim, s = asyncio.run(go())
    isolated = np.arange(3, 10)
    assert (s.adopted_at[isolated] >= 0).all()
    assert s.feed_reached >= isolated.size and s.graph_reached >= 1
    con = sqlite3.connect(path)
    via = dict(con.execute("SELECT agent, via FROM events WHERE session_id = ?", (s.id,)).fetchall())
    assert all(via[int(a)] == 1 for a in isolated)
    assert via[1] == 0
    rows = con.execute("SELECT agent, recommender FROM exposures WHERE session_id = ?", (s.id,)).fetchall()
    assert {a for a, _ in rows} >= set(isolated.tolist()) and {r for _, r in rows} == {"random"}
    assert len(rows) == len({a for a, _ in rows})  # first exposure only


def test_a_message_without_feed_stays_in_the_graph():
    w = hand_world(10, [(0, 1), (1, 2)])
    w.columns["activity_rate"][:] = 1.0
    w.columns["activity_profile"][:] = 5
    sim = Simulation(w)
    sim.social.configure(recommender="random")
    s = sim.inject("graph only", seeds="ids:0", model="ic", params={"p": 1.0}, recommender="none")
    for _ in range(4):
        asyncio.run(sim.step())
    assert s.reached == 3 and s.feed_reached == 0 and s.feed_exposed == 0


def test_bad_recommender_choices_are_one_clear_error_and_change_nothing():
    w = hand_world(4, [(0, 1)])
    sim = Simulation(w)
    before = dict(sim.social.settings)
    with pytest.raises(BadParameterError, match="unknown recommender 'nope'"):
        sim.social.configure(recommender="nope")
    with pytest.raises(BadParameterError, match="feed_size"):
        sim.social.configure(feed_size=0)
    with pytest.raises(BadParameterError, match="is a friend-recommender|unknown recommender"):
        sim.social.configure(recommender="adamic-adar")
    with pytest.raises(BadParameterError):
        sim.inject("x", seeds="ids:0", recommender="nope")
    assert sim.social.settings == before and not sim.world.sessions


def test_a_failing_recommender_is_switched_off_and_the_run_goes_on():
    class Broken(ContentRecommender):
        name = "broken"

        def score(self, ctx):
            return np.zeros((1, 1))  # wrong shape

    reg = Registry()
    reg.register(Broken)
    w = synthetic_world("b", 500, avg_degree=4, seed=2)
    sim = Simulation(w, registry=reg)
    sim.social.configure(recommender="broken")
    s = sim.inject("x", seeds="random:5", model="ic", params={"p": 0.3})
    for _ in range(3):
        asyncio.run(sim.step())
    assert "broken" in sim.social.errors and "shape" in sim.social.errors["broken"]
    assert s.status in ("running", "completed") and s.reached >= 5


# -- friend recommenders ----------------------------------------------------------------------------


def friend_world():
    # 0 follows 1 and 2; 1 follows 3 and 5; 2 follows 3 and 4; agents 6..15 follow 2 (2 is a hub)
    edges = [(1, 0), (2, 0), (3, 1), (5, 1), (3, 2), (4, 2)] + [(2, f) for f in range(6, 16)]
    return hand_world(16, edges)


def suggestions_for(world, name, agent=0, k=2, **params):
    sim = Simulation(world)
    sim.social.configure(friend_recommender=name, suggestions=k, friend_params=params)
    a, c, sc = sim.social.suggestions(0, np.array([agent]))
    assert (a == agent).all()
    return c.tolist(), sc


def test_common_neighbours_counts_paths():
    cands, scores = suggestions_for(friend_world(), "common-neighbours", k=3)
    assert cands == [3, 4, 5] and scores.tolist() == [2.0, 1.0, 1.0]


def test_adamic_adar_discounts_hubs():
    cands, scores = suggestions_for(friend_world(), "adamic-adar", k=3)
    # via 1 (degree 3): 1/log 3; via 2 (degree 13): 1/log 13
    assert cands == [3, 5, 4]
    assert scores == pytest.approx([1 / np.log(3) + 1 / np.log(13), 1 / np.log(3), 1 / np.log(13)])


def test_friend_suggestions_skip_followed_self_and_inactive():
    w = friend_world()
    w.columns["status"][4] = Status.SUSPENDED
    w2 = hand_world(16, [(1, 0), (2, 0), (3, 1), (5, 1), (3, 2), (4, 2), (3, 0)])
    cands, _ = suggestions_for(w, "common-neighbours", k=5)
    assert cands == [3, 5]
    cands, _ = suggestions_for(w2, "common-neighbours", k=5)
    assert 3 not in cands and 0 not in cands
    cands, _ = suggestions_for(w, "random", k=10)
    assert 0 not in cands and 1 not in cands and 2 not in cands and 4 not in cands


def test_interest_compatibility_finds_the_most_compatible_agent():
    w = hand_world(40, [(1, 0)])
    c = w.columns
    c["interests"][:] = topics_mask(["crypto"])
    c["interests"][0] = c["interests"][7] = topics_mask(["ai", "politics"])
    c["activity_profile"][:] = 0
    c["activity_profile"][0] = c["activity_profile"][7] = 3
    c["reputation"][:] = 0.2
    c["reputation"][7] = 0.9
    cands, scores = suggestions_for(w, "interest-compatibility", k=1, candidates=400)
    assert cands == [7]
    assert scores[0] == pytest.approx(compatibility(w, np.array([0]), np.array([7]))[0])
    assert scores[0] == pytest.approx((1.0 + 1.0 + 0.9) / 3, rel=1e-5)


def test_accepted_suggestions_become_follows_after_the_merge():
    w = synthetic_world("f", 3000, avg_degree=6, seed=5)
    before = w.num_edges
    sim = Simulation(w)
    sim.social.configure(friend_recommender="adamic-adar", accept_rate=1.0, unfollow_rate=0.0, merge_every=2)
    out = SocialTick()
    online = np.zeros(w.n, dtype=bool)
    online[::3] = True
    sim.social.friends(0, online, out)
    assert out.follows > 0 and w.num_edges == before and w.delta.pending == out.follows
    sim.social.maybe_merge(1, out)  # tick 1: (1 + 1) % 2 == 0 -> merge
    assert w.num_edges == before + out.follows and w.delta.pending == 0
    assert w.graph.check() == []
    added_src, added_dst = w.delta.last_added[0] // w.n, w.delta.last_added[0] % w.n
    assert follows(w.graph, added_dst, added_src).all()  # the follower now follows the suggested agent
    assert (online[added_dst]).all()


def test_accept_rate_zero_means_no_follows():
    w = synthetic_world("f", 2000, avg_degree=6, seed=5)
    sim = Simulation(w)
    sim.social.configure(friend_recommender="common-neighbours", accept_rate=0.0)
    out = SocialTick()
    sim.social.friends(0, np.ones(w.n, dtype=bool), out)
    assert out.follows == 0


def test_unfollow_low_trust_and_fatigue():
    # agent 0 follows 1, 2, 3 with trust 0.9, 0.05, 0.5
    w = hand_world(4, [(1, 0), (2, 0), (3, 0)])
    g = w.graph
    for followed, t in ((1, 0.9), (2, 0.05), (3, 0.5)):
        g.trust[g.edge_ids(np.array([followed]), np.array([0]))] = t
    sim = Simulation(w)
    sim.social.configure(recommender="random", unfollow_trust=0.1, unfollow_rate=1.0, fatigue_rate=0.0)
    online = np.array([True, False, False, False])
    out = SocialTick()
    sim.social.friends(0, online, out)
    sim.social.maybe_merge(0, out, force=True)
    assert out.unfollows == 1 and sorted(w.graph.followees(0).tolist()) == [1, 3]
    # fatigue: following more than 1 -> drop the least trusted (3, trust 0.5)
    sim.social.configure(recommender="random", unfollow_rate=0.0, fatigue_following=1, fatigue_rate=1.0)
    out = SocialTick()
    sim.social.friends(1, online, out)
    sim.social.maybe_merge(1, out, force=True)
    assert w.graph.followees(0).tolist() == [1]


def test_aggregate_pairs_and_top_k_helpers():
    a, c, t = aggregate_pairs(np.array([2, 1, 2, 2]), np.array([5, 3, 5, 4]), np.array([1.0, 2.0, 0.5, 1.0]))
    assert a.tolist() == [1, 2, 2] and c.tolist() == [3, 4, 5] and t.tolist() == [2.0, 1.0, 1.5]
    rows, cols = top_k_per_row(np.array([[1.0, -np.inf, 3.0, 3.0], [np.nan, -np.inf, -np.inf, 0.0]]), 2)
    assert rows.tolist() == [0, 0, 1] and cols.tolist() == [2, 3, 3]


# -- lifecycle and churn ----------------------------------------------------------------------------


def test_suspended_agents_never_adopt_and_muted_ones_do_not_transmit():
    # chain 0 -> 1 -> 2 -> 3
    w = hand_world(4, [(0, 1), (1, 2), (2, 3)])
    w.columns["status"][2] = Status.MUTED
    sim = Simulation(w)
    s = sim.inject("x", seeds="ids:0", model="ic", params={"p": 1.0})
    for _ in range(5):
        asyncio.run(sim.step())
    assert s.adopted_at[:3].min() >= 0 and s.adopted_at[3] == -1  # 2 adopted, but its followers heard nothing
    w2 = hand_world(4, [(0, 1), (1, 2), (2, 3)])
    w2.columns["status"][1] = Status.SUSPENDED
    sim2 = Simulation(w2)
    s2 = sim2.inject("x", seeds="ids:0", model="ic", params={"p": 1.0})
    for _ in range(5):
        asyncio.run(sim2.step())
    assert s2.reached == 1


def test_joins_and_departures_change_status_and_edges():
    w = synthetic_world("c", 3000, avg_degree=6, seed=11)
    st = w.columns["status"]
    created = np.arange(0, 300)
    st[created] = Status.CREATED
    sim = Simulation(w)
    sim.social.configure(join_rate=1.0, join_follows=3, leave_rate=0.0)
    out = SocialTick()
    sim.social.churn(0, out)
    assert out.joins == 300 and (st[created] == Status.ACTIVE).all()
    sim.social.maybe_merge(0, out, force=True)
    indeg = np.diff(w.graph.in_indptr)[created]
    assert indeg.sum() > 0
    sim.social.configure(join_rate=0.0, leave_rate=0.05)
    out = SocialTick()
    sim.social.churn(1, out)
    gone = np.flatnonzero(st == Status.DEACTIVATED)
    assert out.leaves == gone.size > 0
    sim.social.maybe_merge(1, out, force=True)
    g = w.graph
    assert (np.diff(g.out_indptr)[gone] == 0).all() and (np.diff(g.in_indptr)[gone] == 0).all()
    assert g.check() == []


def test_idle_agents_are_offline_until_they_return():
    w = synthetic_world("i", 2000, avg_degree=4, seed=1)
    sim = Simulation(w)
    sim.social.configure(idle_rate=1.0)
    asyncio.run(sim.step())
    assert (w.columns["status"] == Status.IDLE).all()
    online = w.advance(1)
    assert not online.any()
    sim.social.configure(idle_rate=0.0, return_rate=1.0)
    asyncio.run(sim.step())
    assert (w.columns["status"] == Status.ACTIVE).all()


# -- reputation and trust ---------------------------------------------------------------------------


def learning_world():
    # 0 is followed by 1..6
    w = hand_world(8, [(0, f) for f in range(1, 7)])
    w.graph.trust[:] = 0.5
    w.columns["reputation"][:] = 0.5
    w.columns["interests"][:] = topics_mask(["ai"])
    return w


def run_rounds(w, p, topics=("ai",), **settings):
    sim = Simulation(w)
    sim.social.configure(recommender="random", **settings)
    sim.inject("x", seeds="ids:0", model="ic", topics=list(topics), params={"p": p}, recommender="none")
    for _ in range(3):
        asyncio.run(sim.step())
    return sim


def test_adoptions_raise_trust_and_reputation():
    w = learning_world()
    run_rounds(w, 1.0)
    assert (w.graph.trust > 0.5).all()
    assert w.columns["reputation"][0] > 0.5


def test_ignored_attempts_lower_trust_and_reputation_and_reports_lower_it_more():
    w = learning_world()
    run_rounds(w, 0.0, report_rate=0.0)
    assert (w.graph.trust < 0.5).all()
    ignored_only = float(w.columns["reputation"][0])
    assert ignored_only < 0.5
    w2 = learning_world()
    run_rounds(w2, 0.0, topics=("crypto",), report_rate=1.0)  # off-interest: every ignore is reported
    assert float(w2.columns["reputation"][0]) < ignored_only


def test_a_static_world_learns_nothing():
    w = learning_world()
    sim = Simulation(w)
    sim.inject("x", seeds="ids:0", model="ic", params={"p": 1.0})
    for _ in range(3):
        asyncio.run(sim.step())
    assert not sim.social.living
    assert (w.graph.trust == 0.5).all() and w.columns["reputation"][0] == 0.5


def test_viral_feels_trust_and_reputation():
    """Reputation and trust feed back into viral: a sender with higher reputation over more trusted
    edges reaches more."""

    def reached(rep, trust):
        w = synthetic_world("v", 4000, avg_degree=8, seed=9)
        w.columns["reputation"][:] = rep
        w.graph.trust[:] = trust
        sim = Simulation(w)
        s = sim.inject("x", seeds="random:20", model="viral", params={"p": 0.05})
        for _ in range(30):
            asyncio.run(sim.step())
        return s.reached

    assert reached(0.9, 0.9) > reached(0.1, 0.3)


# -- persistence and determinism --------------------------------------------------------------------


def living(world, seed=0):
    sim = Simulation(world)
    sim.social.configure(
        recommender="interest",
        friend_recommender="adamic-adar",
        leave_rate=0.002,
        join_rate=0.05,
        merge_every=3,
        accept_rate=0.3,
    )
    return sim


def trajectory(world, ticks, inject=True):
    sim = living(world)
    if inject:
        sim.inject("a", topics=["ai", "politics"], seeds="random:10", model="ic", params={"p": 0.08}, seed=3)
        sim.inject("b", topics=["crypto"], seeds="random:10", model="sir", params={"beta": 0.1, "gamma": 0.2}, seed=4)
    return [asyncio.run(sim.step()) for _ in range(ticks)], sim


def base_world():
    w = synthetic_world("d", 3000, avg_degree=6, seed=21)
    w.columns["status"][::10] = Status.CREATED
    return w


def strip(metrics):
    return [{k: v for k, v in m.items() if not k.endswith("seconds") and k != "attempts_per_second"} for m in metrics]


def test_the_living_network_is_deterministic_under_a_seed():
    m1, s1 = trajectory(base_world(), 8)
    m2, s2 = trajectory(base_world(), 8)
    assert strip(m1) == strip(m2)
    assert sum(m["follows"] for m in m1) > 0 and sum(m["feed_items"] for m in m1) > 0
    for k in ("out_indptr", "out_indices", "trust"):
        assert np.array_equal(getattr(s1.world.graph, k), getattr(s2.world.graph, k))
    assert np.array_equal(s1.world.columns["reputation"], s2.world.columns["reputation"])


def test_a_snapshot_continues_the_living_network_exactly(tmp_path):
    full, sim_full = trajectory(base_world(), 10)
    first, sim = trajectory(base_world(), 5)
    path = str(tmp_path / "mid.snap")
    save_snapshot(sim.world, path)
    world = load_snapshot(path)
    assert world.delta.pending == sim.world.delta.pending
    sim2 = living(world)
    rest = [asyncio.run(sim2.step()) for _ in range(5)]
    assert strip(first + rest) == strip(full)
    assert np.array_equal(world.graph.out_indices, sim_full.world.graph.out_indices)
    assert np.array_equal(world.columns["status"], sim_full.world.columns["status"])


def test_world_file_keeps_pending_changes_and_mirrors_in_sync(tmp_path):
    path = str(tmp_path / "w.db")
    w = base_world()
    asyncio.run(save_world(w, path))

    async def go():
        world = await open_world(path)
        writer = await WorldWriter(path).start()
        sim = living(world)
        sim.writer = writer
        sim.inject("a", topics=["ai"], seeds="random:10", model="ic", params={"p": 0.1})
        for _ in range(7):
            await sim.step()
        await sim.checkpoint()
        await writer.close()
        return world

    world = asyncio.run(go())
    assert world.delta.pending > 0  # 7 ticks with merges every 3: the last tick's changes wait
    again = asyncio.run(open_world(path))
    assert again.delta.pending == world.delta.pending
    assert np.array_equal(again.graph.out_indices, world.graph.out_indices)
    con = sqlite3.connect(path)
    rows = np.array(con.execute("SELECT src, dst, trust FROM relationships ORDER BY src, dst").fetchall())
    g = world.graph
    assert rows.shape[0] == g.num_edges
    assert np.array_equal(rows[:, 0].astype(np.int64), g.sources()) and np.array_equal(
        rows[:, 1].astype(np.int64), g.out_indices
    )
    assert np.allclose(rows[:, 2], g.trust, atol=1 / 32767)
    status = np.array([r[0] for r in con.execute("SELECT status FROM agent_rows ORDER BY id")])
    assert np.array_equal(status, world.columns["status"])
    rep = np.array([r[0] for r in con.execute("SELECT reputation FROM agent_rows ORDER BY id")])
    assert np.allclose(rep, world.columns["reputation"], atol=1e-6)


def test_graph_after_a_run_equals_a_rebuild_from_the_changes():
    w = base_world()
    original = w.graph
    keys = original.sources().astype(np.int64) * w.n + original.out_indices
    _, sim = trajectory(w, 9)  # merges at ticks 2, 5, 8: nothing pending
    assert w.delta.pending == 0
    assert len(w.edge_log["removed"]) == 3
    expect = keys
    for removed, added in zip(w.edge_log["removed"], w.edge_log["added"]):  # merge by merge, in order
        expect = np.union1d(np.setdiff1d(expect, removed), added)
    rebuilt = Graph.from_edges(w.n, expect // w.n, expect % w.n)
    assert np.array_equal(rebuilt.out_indptr, w.graph.out_indptr)
    assert np.array_equal(rebuilt.out_indices, w.graph.out_indices)
    assert np.array_equal(rebuilt.in_indices, w.graph.in_indices)


def test_custom_recommenders_plug_in_like_the_builtins():
    class Loudest(ContentRecommender):
        name = "loudest"

        def score(self, ctx):
            return np.broadcast_to(ctx.adopted[None, :].astype(float), ctx.shape).copy()

    class Twins(FriendRecommender):
        name = "twins"

        def suggest(self, ctx):
            a = np.asarray(ctx.agents)
            c = (a + 1) % ctx.n
            return a, c.astype(np.int32), np.ones(a.size)

    reg = Registry()
    reg.register(Loudest)
    reg.register(Twins)
    w = hand_world(6, [(0, 1)])
    sim = Simulation(w, registry=reg)
    sim.social.configure(recommender="loudest", friend_recommender="twins")
    a, c, _ = sim.social.suggestions(0, np.array([2, 3]))
    assert a.tolist() == [2, 3] and c.tolist() == [3, 4]
    assert "loudest" in [e.name for e in reg.list("recommender")]
    assert "twins" in [e.name for e in reg.list("friend-recommender")]


def test_the_recommenders_in_the_docs_work(tmp_path):
    """The two recommenders of docs/writing-a-recommender.md, loaded as a user's plugin folder (its other
    Python block, a test of a recommender, is run by the checker's own tests)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "writing-a-recommender.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if re.search(r"^class \w+\(", b, re.M)]
    assert len(blocks) == 2
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "mine.py").write_text(blocks[0] + "\n" + blocks[1])
    reg = Registry([str(folder)])
    w = synthetic_world("doc", 3000, avg_degree=6, seed=4)
    sim = Simulation(w, registry=reg)
    sim.social.configure(recommender="trending", friend_recommender="same-community", accept_rate=1.0)
    sim.inject("x", topics=["ai"], seeds="random:30", model="ic", params={"p": 0.2})
    totals = {"feed_items": 0, "follows": 0}
    for _ in range(6):
        m = asyncio.run(sim.step())
        for k in totals:
            totals[k] += m[k]
    assert not sim.social.errors
    assert totals["feed_items"] > 0 and totals["follows"] > 0


def test_the_recommender_test_in_the_docs_runs(tmp_path, monkeypatch):
    """docs/writing-a-recommender.md's example test, run against the recommender template it names."""
    import re
    from pathlib import Path

    from sim.authoring import new_plugin

    doc = (Path(__file__).resolve().parents[1] / "docs" / "writing-a-recommender.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "def test_" in b]
    new_plugin("topical_feed", str(tmp_path / "myplugins"), template="recommender")
    monkeypatch.chdir(tmp_path)
    space: dict = {}
    exec(compile(block, "writing-a-recommender.md", "exec"), space)
    tests = [f for name, f in space.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0]()
