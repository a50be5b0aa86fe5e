"""Seed methods on a real network: MUSAE Facebook (22,470 pages, 170,823 mutual likes, imported undirected),
independent cascade with p = 0.015, compared in paired sweeps (run r of every arm on session seed r). The
figures these tests reproduce are in docs/seeds-and-interventions.md ("Results on MUSAE Facebook"); every
choice and run is seeded, so they are the same on every machine.

At this p the top hubs' cascades overlap: the 10 pages of most followers reach about 460 pages where RIS's 10
reach about 505, and 10 random pages about 93. CELF (among the 50 pages of most followers, 50 runs per
estimate) takes some 2 minutes of CPU here whatever K, so its test (K = 5) runs only when asked for:
``pytest -m slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import agora, data_file

from sim.core.stats import mean_ci95

P = "p=0.015"


@pytest.fixture(scope="module")
def musae(tmp_path_factory) -> Path:
    edges = data_file("musae_facebook_edges.csv")
    folder = tmp_path_factory.mktemp("musae_seeds")
    out = agora(folder, "new", "fb.db", "--edges", str(edges), "--seed", "1", "--json")
    assert out.returncode == 0, out.stderr
    return folder / "fb.db"


def run_json(folder: Path, *args: str) -> dict:
    out = agora(folder, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def paired(a: list[int], b: list[int]) -> tuple[float, float, float]:
    """Mean of the run-by-run differences ``a - b`` and its 95% interval, as the sweep computes its own."""
    mean, (lo, hi) = mean_ci95([float(x - y) for x, y in zip(a, b, strict=True)])
    return mean, lo, hi


def test_ris_beats_degree_and_random_in_a_paired_sweep(musae):
    """``--grid seeds=ris:10,degree:10,random:10``: the paired reach difference of degree and of random
    against ris is below 0, interval and all (about -46 and -412 agents of some 505)."""
    k = 10
    res = run_json(
        musae.parent,
        *("sweep", str(musae), "--grid", f"seeds=ris:{k},degree:{k},random:{k}", "--param", P),
        *("--runs", "100", "--until-done"),
    )
    ris, degree, rand = res["results"]
    assert [r["grid"]["seeds"] for r in res["results"]] == [f"ris:{k}", f"degree:{k}", f"random:{k}"]
    assert all(r["completed"] == 100 for r in res["results"])
    assert 450 < ris["mean_reached"] < 570, ris["mean_reached"]
    for arm in (degree, rand):
        lo, hi = arm["paired"]["reach_diff_ci95"]
        assert hi < 0, (arm["grid"], lo, hi)
    assert degree["paired"]["reach_diff_ci95"][1] < -0.03 * ris["mean_reached"]  # not a rounding error
    assert rand["mean_reached"] < 0.3 * ris["mean_reached"]


def _asked_for_slow(config: pytest.Config) -> bool:
    expr = str(config.getoption("markexpr") or "")
    return "slow" in expr and "not slow" not in expr


@pytest.mark.slow
def test_celf_agrees_with_ris_and_both_beat_degree_and_random(musae, request):
    """CELF and RIS chosen by ``agora seeds`` (graded on 200 fresh runs), then a paired sweep of the two
    files against ``degree:5`` and ``random:5``: CELF's and RIS's intervals overlap, their paired difference's
    interval holds 0 and its mean is within 3% of the spread (-0.9 of 469); degree and random are below both,
    paired intervals and all (degree about -35)."""
    if not _asked_for_slow(request.config):
        pytest.skip("CELF on 22,470 agents takes minutes: run it with pytest -m slow")
    k = 5
    folder = musae.parent
    common = ("--k", str(k), "--param", P, "--runs", "200")
    celf = run_json(
        folder,
        *("seeds", str(musae), "--method", "celf", "--method-param", "candidates=50", "--mc-runs", "50"),
        *common,
        *("-o", "celf.txt"),
    )
    ris = run_json(folder, "seeds", str(musae), "--method", "ris", *common, "-o", "ris.txt")
    assert len(set(celf["seeds"])) == len(set(ris["seeds"])) == k
    lo_c, hi_c = celf["spread_ci95"]
    lo_r, hi_r = ris["spread_ci95"]
    assert lo_c <= hi_r and lo_r <= hi_c, (celf["spread_ci95"], ris["spread_ci95"])  # the intervals overlap

    res = run_json(
        folder,
        *("sweep", str(musae), "--grid", f"seeds=file:ris.txt,file:celf.txt,degree:{k},random:{k}"),
        *("--param", P, "--runs", "200", "--until-done"),
    )
    arms = {r["grid"]["seeds"]: r for r in res["results"]}
    by_ris, by_celf = arms["file:ris.txt"], arms["file:celf.txt"]
    # The sweep's runs are agora seeds' fresh runs (session seeds 0..199): the same means.
    assert by_ris["mean_reached"] == pytest.approx(ris["spread_mean"])
    assert by_celf["mean_reached"] == pytest.approx(celf["spread_mean"])
    gap, (lo, hi) = by_celf["paired"]["reach_diff_mean"], by_celf["paired"]["reach_diff_ci95"]
    assert lo <= 0 <= hi and abs(gap) <= 0.03 * by_ris["mean_reached"], (gap, lo, hi)
    for name in (f"degree:{k}", f"random:{k}"):
        assert arms[name]["paired"]["reach_diff_ci95"][1] < 0, (name, arms[name]["paired"])  # below ris
        mean, lo, hi = paired(arms[name]["reached"], by_celf["reached"])
        assert hi < 0, (name, mean, lo, hi)  # below celf
