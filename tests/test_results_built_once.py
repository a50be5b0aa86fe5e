"""Results are built once, as typed objects (issue 58): an ensemble's and a sweep's result come from their runs,
not from a report dict read back; ``report()`` composes the JSON from the fields and shares the runs' entries
(``to_dict()`` copies); ``from_dict`` still reads a printed report back into an equal result."""

from __future__ import annotations

import json

import pytest

import sim
from sim.runs.results import EnsembleResult, SweepResult


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("built_once") / "small.db"
    sim.new_world(str(path), agents=300, avg_degree=6, seed=2)
    return str(path)


@pytest.fixture
def no_reading_back(monkeypatch):
    """``from_dict`` refuses: a result built by reading its own report back fails the test."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("a result was read back from its report dict")

    monkeypatch.setattr(EnsembleResult, "from_dict", classmethod(refuse))
    monkeypatch.setattr(SweepResult, "from_dict", classmethod(refuse))


def test_an_ensemble_is_built_from_its_runs(world, tmp_path, no_reading_back):
    res = sim.open_world(world).ensemble(runs=4, seeds="random:3", workers=1, trees=True)
    report = res.report()
    assert report["runs"][0] is res.runs[0].data, "report() shares the runs' entries"
    assert [r["reached"] for r in report["runs"]] == [r.reached for r in res.runs]
    assert "tree" not in report["runs"][0] and res.trees is not None and len(res.trees) == 4
    copied = res.to_dict()
    assert copied == report and copied["runs"][0] is not report["runs"][0], "to_dict() is a copy"
    written = res.write_series(str(tmp_path / "s.csv"))
    assert res.report()["series_file"] == written and list(res.report())[-1] == "series_file"
    assert res.report(trees=True)["runs"][0]["tree"] is res.trees[0]


def test_a_sweep_is_built_from_its_combinations(world, no_reading_back):
    res = sim.open_world(world).sweep(grid={"p": [0.05, 0.3]}, runs=3, seeds="random:3", workers=1)
    report = res.report()
    assert report["results"][1] is res.arms[1].data and report["combinations"] == len(res) == 2
    assert report["failed_arms"] == res.failed_arms == 0 and report["max_ticks"] == res.max_ticks
    assert list(report)[:3] == ["results", "world", "agents"] and "paired" in report["results"][1]
    assert res.to_dict() == report


def test_a_printed_report_reads_back_into_an_equal_result(world, tmp_path):
    w = sim.open_world(world)
    ens = w.ensemble(runs=3, seeds="random:3", workers=1)
    ens.write_ccdf(str(tmp_path / "c.csv"))
    printed = json.loads(json.dumps(ens.to_dict()))
    back = EnsembleResult.from_dict(printed, source=world)
    assert back.to_dict() == printed and back.mean_reached == ens.mean_reached and back.files == ens.files
    swept = w.sweep(grid={"p": [0.05, 0.3]}, runs=2, seeds="random:3", workers=1)
    printed = json.loads(json.dumps(swept.to_dict()))
    again = SweepResult.from_dict(printed, swept.records, source=world)
    assert again.to_dict() == printed and [a.mean_reached for a in again.arms] == [a.mean_reached for a in swept.arms]
