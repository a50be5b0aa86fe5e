"""Once, not twice (issue 74): a backtest reads its observation once and builds each cut's fit plan once (before:
the file read twice and the plan built 2 + 2 x cuts times); the numbers are those of before."""

from __future__ import annotations

import asyncio
import json

from conftest import agora, data_file

import sim.runs.backtest.running as running
import sim.runs.fit.fitting as fitting
import sim.store.observed as observed
from sim.engine.requests.backtest import Backtest
from sim.lab.agents import load_world
from sim.model.registry import plugin_registry
from sim.runs.backtest.running import run_backtest


def test_a_backtest_reads_its_observation_once_and_plans_each_cut_once(tmp_path, monkeypatch):
    assert agora(tmp_path, "new", "w.db", "--agents", "500", "--seed", "2").returncode == 0
    counts = {"read": 0, "plan": 0}
    read, init = observed.read_observed, fitting.Plan.__init__

    def counted_read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        counts["read"] += 1
        return read(*args, **kwargs)

    def counted_init(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        counts["plan"] += 1
        init(self, *args, **kwargs)

    for module in (observed, running):  # where it is defined, and where the backtest imported it
        monkeypatch.setattr(module, "read_observed", counted_read)
    monkeypatch.setattr(fitting.Plan, "__init__", counted_init)
    request = Backtest.parse(
        {
            "observed": data_file("incidence-Measles1861.csv"), "observe": ["cases=onsets"], "model": "sir",
            "params": ["beta=0.01..1:log", "gamma=0.05..0.5"], "seeds": "random:1", "budget": 200,
            "cut": "15,21,27", "horizon": 7, "workers": 1, "filter_particles": 100,
        }
    )  # fmt: skip
    world, registry = load_world(str(tmp_path / "w.db")), plugin_registry(None)
    result = asyncio.run(run_backtest(world, registry, request, parallel=False))
    assert len(result.cuts) == 3
    assert counts == {"read": 1, "plan": 1 + 3}  # the whole observation's plan, then one a cut


def test_a_scheduled_intervention_is_parsed_once_for_every_run(tmp_path, monkeypatch):
    """Its text is what the world keeps; a run's choice and application read one parsed value (before: two parses
    a run)."""
    from sim.engine import intervene
    from sim.model.intervene import Intervention

    calls = []
    parse = Intervention.parse.__func__

    def counted(cls, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(text)
        return parse(cls, text, *args, **kwargs)

    monkeypatch.setattr(Intervention, "parse", classmethod(counted))
    intervene.stored.cache_clear()
    out = agora(
        tmp_path, "new", "w.db", "--agents", "300", "--seed", "2",
    )  # fmt: skip
    assert out.returncode == 0
    out = agora(
        tmp_path, "run", "w.db", "--inject", "m", "--seeds", "random:3", "--runs", "4", "--steps", "6",
        "--kernel", "engine", "--workers", "1", "--intervene", "2:block:random:10", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    runs = json.loads(out.stdout)["runs"]
    assert len(runs) == 4 and all(r["interventions"][0]["blocked"] == 10 for r in runs)  # applied in each run
    stored = [t for t in calls if t == "block:random:10"]
    assert len(stored) == 1, calls  # once in all four runs' choices and applications
