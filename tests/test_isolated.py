"""Isolated agents (issue 19): an agent with no link in either direction belongs to no community.

Its community is -1; communities are numbered 0.. among linked agents only; ``Communities.isolated``,
the analysis record, ``agora analyze``/``info``/``agent``, the communities table, seeds, exports and
the TUI report isolated agents apart, never as communities of one. Every expected figure here is
computed independently of ``sim.analysis`` (from the edge list or the CSR arrays).
"""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3

import igraph as ig
import numpy as np
import pytest
from conftest import agora, data_file, notified
from textual.widgets import DataTable, Static

from sim.analysis import structure as A
from sim.analysis.export import export_world
from sim.core.world import build_world
from sim.errors import BadParameterError
from sim.model.seeds import SeedSpec
from sim.store.create import imported_world, synthetic_world
from sim.store.worldfile import open_world, save_world


def isolated_mask(world) -> np.ndarray:
    """Agents with no link other than to themselves, from the CSR arrays (not from the igraph view)."""
    g = world.graph
    src, dst = g.sources(), g.out_indices
    links = src != dst
    deg = np.bincount(src[links], minlength=world.n) + np.bincount(dst[links], minlength=world.n)
    return deg == 0


def singleton_modularity(world, membership: np.ndarray) -> float:
    """Classic Q with every isolated agent in a community of its own (the old rule), on a graph built
    here from the world's edges (simple, undirected)."""
    g = ig.Graph(n=world.n, edges=list(zip(world.graph.sources().tolist(), world.graph.out_indices.tolist())))
    g.to_undirected(mode="collapse")
    g.simplify()
    labels = np.asarray(membership, dtype=np.int64).copy()
    none = labels < 0
    labels[none] = labels.max(initial=-1) + 1 + np.arange(int(none.sum()))
    return g.modularity(labels.tolist())


def check_partition(world, c: A.Communities) -> None:
    iso = isolated_mask(world)
    m = c.membership
    assert iso.any(), "the test world must have isolated agents"
    assert c.isolated == int(iso.sum())
    assert np.all(m[iso] == -1), "an isolated agent belongs to no community"
    assert np.all(m[~iso] >= 0), "every linked agent has a community"
    assert c.count == int(m.max()) + 1 == np.unique(m[m >= 0]).size, "communities are numbered 0.. without gaps"
    assert c.sizes.sum() == world.n - c.isolated
    assert np.all(c.sizes[:-1] >= c.sizes[1:]) and c.sizes.min() >= 1, "community 0 is the largest"
    assert c.modularity == pytest.approx(singleton_modularity(world, m), abs=1e-12)
    summary = c.summary()
    assert summary["count"] == c.count and summary["isolated"] == c.isolated


@pytest.fixture(scope="module")
def linked_world():
    """3,000 agents of a planted-community graph, 18 of them without links."""
    return synthetic_world("iso", 3000, avg_degree=8, seed=5)


@pytest.mark.parametrize("method", A.METHODS)
def test_hand_built_world_isolated_and_self_loop(method):
    """Two triangles joined by one edge, two agents with nothing and one whose only edge is a self-loop:
    3 isolated agents, and the triangles are the communities."""
    edges = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (2, 3), (8, 8)]
    src = np.array([a for a, b in edges] + [b for a, b in edges if a != b], dtype=np.int32)
    dst = np.array([b for a, b in edges] + [a for a, b in edges if a != b], dtype=np.int32)
    world = build_world("hand", 0, 9, src, dst)
    assert isolated_mask(world).tolist() == [False] * 6 + [True] * 3
    c = A.detect_communities(A.build_view(world), method=method, seed=0)
    check_partition(world, c)
    assert c.isolated == 3 and c.membership[6:].tolist() == [-1, -1, -1]
    if method != "label-propagation":  # label propagation may merge the two triangles
        assert c.count == 2 and len(set(c.membership[:3].tolist())) == 1 and len(set(c.membership[3:6].tolist())) == 1


def test_world_without_links_has_no_communities():
    world = build_world("empty", 0, 5, np.empty(0, np.int32), np.empty(0, np.int32))
    result = A.analyze(world)
    assert result.communities.count == 0 and result.communities.isolated == 5 and result.communities.modularity == 0
    assert A.store_analysis(world, result) is None
    assert world.config["analysis"]["communities"]["isolated"] == 5
    with pytest.raises(BadParameterError, match="no agent has a link"):
        SeedSpec.parse("community:0:1").select(world, np.random.default_rng(0))


@pytest.mark.parametrize("method", A.METHODS)
def test_synthetic_world_counts_isolated_agents_apart(linked_world, method):
    c = A.detect_communities(A.build_view(linked_world), method=method, seed=1)
    check_partition(linked_world, c)
    assert c.isolated == 18


def test_email_eu_core_agents_with_only_self_loops_are_isolated():
    """email-Eu-core has 642 self-loops; the members whose every line is a self-loop (counted here from
    the file itself) have no link and belong to no community."""
    path = data_file("email-Eu-core.txt")
    pairs = np.loadtxt(path, dtype=np.int64)
    everyone = np.unique(pairs)
    linked = np.unique(pairs[pairs[:, 0] != pairs[:, 1]])
    only_self = np.setdiff1d(everyone, linked)
    assert only_self.size > 0
    world = imported_world("email", str(path), directed=True)
    result = A.analyze(world, pagerank=False)
    c = result.communities
    check_partition(world, c)
    assert c.isolated == only_self.size
    assert np.array_equal(np.sort(world.columns["ids"][c.membership < 0]), only_self)


def test_store_analysis_table_has_no_row_for_isolated(linked_world):
    world = linked_world.fork()
    result = A.analyze(world)
    table = A.store_analysis(world, result)
    comm = world.columns["community"]
    iso = isolated_mask(world)
    rec = world.config["analysis"]["communities"]
    assert rec["count"] == table.count == result.communities.count and rec["isolated"] == int(iso.sum())
    assert np.array_equal(comm < 0, iso)
    assert np.all(table.size > 0) and table.size.sum() == world.n - iso.sum() and table.unassigned == iso.sum()
    assert [r["id"] for r in table.rows()] == list(range(table.count))
    assert table.flows["src"].min() >= 0 and table.flows["dst"].min() >= 0
    assert world.num_communities == table.count


def test_community_seeds_never_pick_isolated_agents(linked_world):
    """``community:C:K`` for every community, with K its every eligible member: no isolated agent (under
    the old rule the smallest communities were isolated agents alone)."""
    from sim.core.world import Status

    world = linked_world.fork()
    A.store_analysis(world, A.analyze(world))
    iso = isolated_mask(world)
    comm = world.columns["community"]
    status = world.columns["status"]
    eligible = (status != Status.DEACTIVATED) & (status != Status.SUSPENDED) & (status != Status.CREATED)
    rng = np.random.default_rng(0)
    picked = []
    for cid in range(world.config["analysis"]["communities"]["count"]):
        k = int(np.count_nonzero((comm == cid) & eligible))
        if k:
            picked.append(SeedSpec.parse(f"community:{cid}:{k}").select(world, rng))
    picked = np.concatenate(picked)
    assert picked.size == np.count_nonzero(eligible & ~iso) and not iso[picked].any()
    with pytest.raises(BadParameterError, match="has no agents"):
        SeedSpec.parse(f"community:{int(comm.max()) + 1}:1").select(world, rng)


def test_session_stats_and_exports_leave_isolated_agents_out(linked_world, tmp_path):
    from sim.engine.simulation import Simulation

    world = linked_world.fork()
    A.store_analysis(world, A.analyze(world))
    iso = isolated_mask(world)
    isolated_ids = set(world.columns["ids"][iso].tolist())
    # A session seeded on every isolated agent plus a few others: the stats count linked agents only.
    sim = Simulation(world)
    seeds = ",".join(str(i) for i in sorted(isolated_ids)[:5]) + ",0,1,2"
    session = sim.inject("x", topics=["ai"], seeds=f"ids:{seeds}", model="ic", params={"p": 0.3}, seed=2)
    for _ in range(3):
        asyncio.run(sim.step())
    stats = A.session_community_stats(world, session)
    assert stats["communities"] == world.config["analysis"]["communities"]["count"]
    assert stats["size"].sum() == world.n - iso.sum()
    # CSV export: isolated agents carry -1; a community's export holds none of them.
    out = tmp_path / "agents.csv"
    export_world(world, str(out), "csv")
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    minus = {int(r["id"]) for r in rows if r["community"] == "-1"}
    assert minus == isolated_ids
    part = tmp_path / "c0.graphml"
    export_world(world, str(part), "graphml", community=0)
    import networkx as nx

    g = nx.read_graphml(part)
    assert g.number_of_nodes() == np.count_nonzero(world.columns["community"] == 0)
    assert not ({int(n) for n in g.nodes} & isolated_ids)


def test_agora_analyze_info_and_agent_report_isolated_agents(linked_world, tmp_path):
    """The real CLI in a subprocess: ``analyze --json`` has ``communities.count`` and
    ``communities.isolated``; the text, ``info`` and ``agent`` say the same in words."""
    path = tmp_path / "iso.db"
    asyncio.run(save_world(linked_world, str(path)))
    iso = isolated_mask(linked_world)
    res = agora(tmp_path, "analyze", str(path), "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)["communities"]
    assert data["isolated"] == int(iso.sum()) == 18
    world = asyncio.run(open_world(str(path)))
    assert world.num_communities == data["count"] and np.array_equal(world.columns["community"] < 0, iso)
    assert world.config["analysis"]["communities"]["isolated"] == 18
    con = sqlite3.connect(path)
    ids = [r[0] for r in con.execute("SELECT id FROM communities ORDER BY id")]
    con.close()
    assert ids == list(range(data["count"])), "the communities table has no row for isolated agents"
    res = agora(tmp_path, "analyze", str(path), "--no-store")
    assert res.returncode == 0 and f"communities  {data['count']:,} (modularity" in res.stdout
    assert "· 18 isolated agents with no links" in res.stdout
    info = json.loads(agora(tmp_path, "info", str(path), "--json").stdout)
    assert info["communities"] == data["count"] and info["isolated"] == 18
    assert "18 isolated agents with no links" in agora(tmp_path, "info", str(path)).stdout
    lonely = int(linked_world.columns["ids"][np.flatnonzero(iso)[0]])
    agent = json.loads(agora(tmp_path, "agent", str(path), str(lonely), "--json").stdout)
    assert agent["community"] == -1 and agent["followers"] == agent["followees"] == 0
    assert "none (isolated, no links)" in agora(tmp_path, "agent", str(path), str(lonely)).stdout


def test_old_world_with_singleton_isolated_agents_still_loads(linked_world, tmp_path):
    """A world analysed before the rule: isolated agents hold communities of their own and the record
    has no ``isolated``. It opens, its table and reports work; analysing again applies the rule."""
    world = linked_world.fork()
    A.store_analysis(world, A.analyze(world))
    comm = world.columns["community"]
    iso = comm < 0
    comm[iso] = comm.max() + 1 + np.arange(int(iso.sum()))  # the old labelling
    rec = world.config["analysis"]["communities"]
    rec["count"] += int(iso.sum())
    del rec["isolated"]
    path = tmp_path / "old.db"
    asyncio.run(save_world(world, str(path)))
    old = asyncio.run(open_world(str(path)))
    assert (old.columns["community"] >= 0).all() and old.num_communities == rec["count"]
    assert A.community_table(old).count == rec["count"]
    assert A.communities_line(rec["count"], 0.5, None) == f"{rec['count']:,} communities (modularity 0.500)"
    res = agora(tmp_path, "info", str(path), "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["isolated"] is None
    res = agora(tmp_path, "analyze", str(path), "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["communities"]["isolated"] == int(iso.sum())


# -- the TUI -------------------------------------------------------------------------------------------


@pytest.fixture
def unlabelled_world_file(tmp_path):
    """A 2,000-agent world whose communities are not known yet (18 agents without links)."""
    w = synthetic_world("tui-iso", 2000, avg_degree=8, seed=5)
    w.columns["community"][:] = -1
    path = str(tmp_path / "tui.db")
    asyncio.run(save_world(w, path))
    return path, isolated_mask(w)


@pytest.mark.usefixtures("keep_notifications")
async def test_tui_reports_isolated_agents_apart(unlabelled_world_file):
    """After ``c``: the notification reads "N communities (modularity Q) · 18 isolated agents with no
    links"; the Communities view has one row per community and a line for the isolated agents; an
    isolated agent's profile says "community none (isolated, no links)" (before: "unknown")."""
    from tui.app import AgoraApp

    path, iso = unlabelled_world_file
    n_iso = int(iso.sum())
    lonely = int(np.flatnonzero(iso)[0])
    app = AgoraApp(path)
    async with app.run_test(size=(150, 48)) as pilot:
        from test_tui import start, until

        await start(app, pilot)
        await pilot.press("3")
        agents = app._views["agents"]
        agents.show(lonely)
        profile = agents.query_one("#agent-profile", Static)
        assert "community unknown" in str(profile.render())
        await pilot.press("2")
        await pilot.press("c")
        tail = f"· {n_iso} isolated agents with no links"
        assert await until(pilot, lambda: any(m.endswith(tail) for m in notified(app))), notified(app)
        rec = app.world.config["analysis"]["communities"]
        message = next(m for m in notified(app) if m.endswith(tail))
        assert message == f"{rec['count']:,} communities (modularity {rec['modularity']:.3f}) {tail}"
        assert rec["isolated"] == n_iso and np.array_equal(app.world.columns["community"] < 0, iso)
        view = app._views["communities"]
        table = view.query_one("#comm-table", DataTable)
        line = view.query_one("#comm-isolated", Static)
        assert await until(pilot, lambda: table.row_count == rec["count"] and line.display), table.row_count
        assert str(line.render()).startswith(f"{n_iso} isolated agents with no links")
        assert "-1" not in [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        await pilot.press("3")
        agents.show(lonely)
        assert "community none (isolated, no links)" in str(profile.render())
