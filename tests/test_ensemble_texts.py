"""An offline ensemble (``agora run --runs``) writes no post texts: its worlds are forks nothing keeps,
and the texts never change a cascade (they come from their own random stream), so each run reaches
exactly the agents it reaches with texts written."""

from __future__ import annotations

from sim.model.registry import Registry
from sim.runs.runner import run_cascades
from sim.store.create import synthetic_world


async def test_offline_ensemble_skips_texts_and_reaches_the_same_agents():
    world = synthetic_world("ens", 3000, avg_degree=8, seed=4)
    registry = Registry([])
    ensemble = await run_cascades(
        world,
        registry=registry,
        text="news",
        seeds="random:10",
        model="ic",
        params={"p": 0.2},
        runs=3,
        until_done=True,
        seed=11,
        kernel="engine",  # each run then is the single run of its seed (batched runs draw their own edges)
    )
    assert ensemble["llm"]["texts_skipped"] is True and ensemble["llm"]["posts"] == 0
    assert len(world.posts) == 0
    for r, run in enumerate(ensemble["runs"]):
        single = await run_cascades(
            world.fork(),
            registry=registry,
            text="news",
            seeds="random:10",
            model="ic",
            params={"p": 0.2},
            until_done=True,
            seed=11 + r,
        )
        assert single["llm"]["texts_skipped"] is False and single["llm"]["posts"] > 0  # written when kept
        assert single["runs"][0]["reached"] == run["reached"] and single["runs"][0]["ticks"] == run["ticks"]
