"""The world as columns: shapes, dtypes, agent views, persona text, determinism."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from sim.core.persona import persona_text
from sim.core.world import AGENT_COLUMNS, Status, check_columns
from sim.errors import BadParameterError
from sim.store.create import synthetic_world
from sim.store.worldfile import save_world


def test_columns_have_documented_dtypes_and_lengths(small_world):
    w = small_world
    assert check_columns(w.columns, w.n) == []
    for name, (dtype, shape) in AGENT_COLUMNS.items():
        assert w.columns[name].dtype == np.dtype(dtype)
        assert w.columns[name].shape == (w.n, *shape)
    g = w.graph
    assert g.out_indices.dtype == np.int32 and g.in_indices.dtype == np.int32
    assert g.trust.dtype == np.float32
    assert g.out_indptr.dtype == np.int64 and g.in_indptr.dtype == np.int64
    assert g.check() == []


def test_attributes_are_in_range(small_world):
    c = small_world.columns
    assert np.all((c["susceptibility"] >= 0) & (c["susceptibility"] <= 1))
    assert np.all((c["reputation"] >= 0) & (c["reputation"] <= 1))
    assert np.all((c["influence"] >= 0) & (c["influence"] <= 1))
    assert np.all(c["interests"] != 0), "every agent has at least one interest"
    assert np.all(c["status"] == Status.ACTIVE)
    assert np.all((c["activity_rate"] > 0) & (c["activity_rate"] <= 1))
    # influence follows followers: the most-followed agent has the top influence
    assert c["influence"][np.argmax(small_world.graph.out_degree())] == pytest.approx(1.0)


def test_interests_follow_communities(small_world):
    """Agents of one community share theme topics more than agents of different communities."""
    c = small_world.columns
    rng = np.random.default_rng(0)
    i = rng.integers(0, small_world.n, 20000)
    j = rng.integers(0, small_world.n, 20000)
    shared = np.bitwise_count(c["interests"][i] & c["interests"][j])
    same = c["community"][i] == c["community"][j]
    assert shared[same].mean() > 2 * shared[~same].mean()


def test_same_seed_same_world_and_different_seed_differs():
    a = synthetic_world("a", 2000, seed=3)
    b = synthetic_world("b", 2000, seed=3)
    c = synthetic_world("c", 2000, seed=4)
    for k in a.columns:
        if k != "ids":
            assert np.array_equal(a.columns[k], b.columns[k]), k
    assert np.array_equal(a.graph.out_indices, b.graph.out_indices)
    assert np.array_equal(a.graph.trust, b.graph.trust)
    assert not np.array_equal(a.graph.out_indices, c.graph.out_indices) or a.num_edges != c.num_edges
    assert not np.array_equal(a.columns["susceptibility"], c.columns["susceptibility"])


def test_agent_view_materialises_one_agent(small_world):
    w = small_world
    i = int(np.argmax(w.graph.out_degree()))
    agent = w.agent(i)
    d = agent.to_dict()
    assert d["id"] == i
    assert d["followers"] == int(w.graph.out_degree()[i]) == len(agent.followers())
    assert d["followees"] == int(w.graph.in_degree()[i]) == len(agent.followees())
    assert agent.name and agent.bio.endswith(".") and agent.style
    assert agent.activity.shape == (24,)
    assert d["status"] == "active"
    # followers: every follower f has an edge i -> f
    for f in agent.followers()[:20]:
        assert i in w.graph.followees(int(f))
    with pytest.raises(BadParameterError):
        w.agent(w.n)
    with pytest.raises(BadParameterError, match="no agent has id"):
        w.index_of(10**12)


def test_persona_sql_matches_python(tmp_path, small_world):
    """The SQL view that builds persona text in the world file agrees with the Python function."""
    import asyncio

    path = tmp_path / "w.db"
    asyncio.run(save_world(small_world, str(path)))
    con = sqlite3.connect(path)
    rows = con.execute("SELECT id, name, bio, style FROM agents WHERE id % 97 = 0").fetchall()
    assert len(rows) == (small_world.n + 96) // 97
    for i, name, bio, style in rows:
        p = persona_text(small_world.columns["persona_codes"][i], small_world.columns["persona_style"][i])
        assert (name, bio, style) == (p.name, p.bio, p.style)


def test_persona_cache_is_bounded(small_world):
    w = small_world
    w.PERSONA_CACHE_SIZE = 50
    for i in range(200):
        w.persona(i)
    assert len(w._persona_cache) == 50


def test_advance_draws_online_agents_by_hour(small_world):
    w = small_world
    online = w.advance(1)
    assert online.dtype == bool and online.shape == (w.n,)
    rate = online.mean()
    assert 0.01 < rate < 0.5
    assert w.tick == 1


def test_sim_never_imports_textual():
    code = (
        "import importlib, pkgutil, sys, sim\n"
        "for m in pkgutil.walk_packages(sim.__path__, 'sim.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "assert 'sim.cli.main' in sys.modules and 'sim.engine.simulation' in sys.modules\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
