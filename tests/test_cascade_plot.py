"""Cascade figures: ``agora plot`` draws a ``--cascades`` file as the size CCDF beside structural virality
against size (Goel et al. 2016), and a ``--ccdf`` file as the CCDF alone; the points drawn are the runs'
own measures, rebuilt from the file's rows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import agora

from sim.analysis.plot import cascade_groups, ccdf_groups, file_kind


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, dict]:
    """A sweep of ic against sir from one random seed each, with its trees, sizes and series written."""
    folder = tmp_path_factory.mktemp("cascade_plot")
    rng = random.Random(5)
    lines = [f"{100 + i} {100 + j}" for i in range(400) for j in rng.sample(range(400), 5) if i != j]
    (folder / "edges.txt").write_text("\n".join(lines) + "\n")
    assert agora(folder, "new", "w.db", "--edges", "edges.txt", "--seed", "2").returncode == 0
    out = agora(
        folder,
        "sweep",
        "w.db",
        "--grid",
        "model=ic,sir",
        "--param",
        "ic.p=0.15",
        "--param",
        "sir.beta=0.1",
        "--seeds",
        "random:1",
        "--runs",
        "12",
        "--workers",
        "1",
        "--cascades",
        "trees.csv.gz",
        "--ccdf",
        "ccdf.csv",
        "--series",
        "series.csv",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    return folder, json.loads(out.stdout)


def test_files_are_told_apart_by_their_columns(swept):
    folder, _ = swept
    assert file_kind(str(folder / "trees.csv.gz")) == "cascades"
    assert file_kind(str(folder / "ccdf.csv")) == "ccdf"
    assert file_kind(str(folder / "series.csv")) == "series"


def test_the_points_drawn_are_each_runs_size_and_structural_virality(swept):
    folder, data = swept
    groups = cascade_groups(None, str(folder / "trees.csv.gz"))
    assert [g[0] for g in groups] == ["model=ic", "model=sir"]
    for (_, values, tail, sizes, virality), arm in zip(groups, data["results"]):
        runs = [r["cascade"] for r in arm["per_run"]]
        assert sizes.tolist() == [c["size"] for c in runs]
        assert virality == pytest.approx([c["structural_virality"] for c in runs], rel=1e-12, abs=1e-12)
        # The CCDF drawn: P(S >= s) over the runs, at each distinct size.
        assert values.tolist() == sorted(set(sizes.tolist()))
        assert tail.tolist() == pytest.approx([np.mean(sizes >= s) for s in values])
    # The --ccdf file holds the same distributions.
    for (_, v1, t1, _, _), (_, v2, t2, _, _) in zip(ccdf_groups(None, str(folder / "ccdf.csv")), groups):
        assert v1.tolist() == v2.tolist() and t1 == pytest.approx(t2.tolist())


def test_agora_plot_draws_both_panels_from_a_cascades_file_and_the_ccdf_alone_from_a_ccdf_file(swept):
    folder, _ = swept
    out = agora(folder, "plot", "trees.csv.gz", "-o", "c.png", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["panels"] == ["ccdf", "virality"] and result["groups"] == 2 and result["runs"] == 24
    assert (folder / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = agora(folder, "plot", "ccdf.csv", "-o", "d.svg", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["panels"] == ["ccdf"] and "<svg" in (folder / "d.svg").read_text()
    # depth and breadth over time are series measures: the mean with its band, like any other.
    out = agora(folder, "plot", "series.csv", "-o", "db.png", "--measure", "depth", "--measure", "breadth", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["measures"] == ["depth", "breadth"]


def test_mixing_series_and_cascade_files_or_asking_a_measure_is_one_sentence(swept):
    folder, _ = swept
    for args in (("trees.csv.gz", "series.csv"), ("trees.csv.gz", "--measure", "depth")):
        out = agora(folder, "plot", *args, "-o", "x.png")
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert not (folder / "x.png").exists()
