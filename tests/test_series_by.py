"""Issue 77: new infections per tick by the contact layer they came through and by a group of agents (``agora run
--by layer --by AGE:0,5,10,15``, ``by=`` in Python). On the real Hagelloch village each run's groups sum to ``new``
at every tick, and the layer of each infection agrees with one worked out by hand from the table itself (same
household, else same school class) through the run's own cascades file."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import agora, data_file

import sim
from sim.analysis.bygroup import By, parse_by, parse_bys
from sim.errors import BadParameterError

RUN = ("--inject", "measles", "--model", "sir", "--param", "beta=0.08", "--param", "gamma=0.12", "--seed", "3")


def _table() -> dict[str, dict[str, str]]:
    with open(data_file("hagelloch.csv"), newline="") as fh:
        return {row["PN"]: row for row in csv.DictReader(fh)}


def _by_hand(rows: list[dict[str, str]], people: dict[str, dict[str, str]], ticks: int) -> dict[str, np.ndarray]:
    """Each infection's layer from the table: the source's household, else its school class (the preschool
    children in none), else no contact; no source: none."""
    out = {k: np.zeros(ticks, dtype=np.int64) for k in ("household", "class", "none", "other")}
    for row in rows:
        agent, source = people[row["agent"]], people.get(row["source"])
        if source is None:
            layer = "none"
        elif agent["HN"] == source["HN"]:
            layer = "household"
        elif agent["CL"] == source["CL"] and agent["CL"] != "preschool":
            layer = "class"
        else:
            layer = "other"
        out[layer][int(row["tick"])] += 1
    return out


def test_by_layer_and_age_bands_sum_to_new_and_agree_with_the_table(hagelloch_file, tmp_path):
    done = agora(
        tmp_path,
        "run",
        str(hagelloch_file),
        *RUN,
        "--runs",
        "2",
        "--until-done",
        "--by",
        "layer",
        "--by",
        "AGE:0,5,10,15",
        "--cascades",
        "trees.csv",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["kernel"] == "engine"
    people = _table()
    with open(tmp_path / "trees.csv", newline="") as fh:
        trees = list(csv.DictReader(fh))
    for r, run in enumerate(report["runs"]):
        series = {k: np.asarray(v) for k, v in run["series"].items()}
        new = series["new"]
        layers = ["new@household", "new@class", "new@none", "new@other"]
        ages = ["new@AGE:0-4", "new@AGE:5-9", "new@AGE:10-14", "new@AGE:15+"]
        assert [k for k in series if k.startswith("new@")] == layers + ages
        assert np.array_equal(sum(series[k] for k in layers), new)
        assert np.array_equal(sum(series[k] for k in ages), new)
        assert new.sum() > 50  # an outbreak, not a few seeds
        rows = [t for t in trees if t["run"] == str(r)]
        hand = _by_hand(rows, people, new.size)
        for name in ("household", "class", "none", "other"):
            assert series[f"new@{name}"].tolist() == hand[name].tolist(), name
        ages_by_hand = np.zeros((4, new.size), dtype=np.int64)
        for row in rows:
            band = int(np.searchsorted([0, 5, 10, 15], float(people[row["agent"]]["AGE"]), side="right")) - 1
            ages_by_hand[band, int(row["tick"])] += 1
        assert np.array_equal(np.vstack([series[k] for k in ages]), ages_by_hand)
    assert set(report["runs"][0]["series_columns"]["measures"]) >= set(layers + ages)


@pytest.mark.parametrize(
    ("by", "says"),
    [
        ("AGE", "--by AGE: it is a number: give its bands, such as AGE:0,5,15,65"),
        ("nope", "--by 'nope': the world has no such column: give one of layer,"),
        ("AGE:10,5", "give finite bounds in increasing order"),
        ("SEX:1,2", "--by SEX: it is a category, not a number: give it without bands"),
        ("layer:1", "by layer has no bands"),
    ],
)
def test_a_bad_by_is_one_sentence_and_runs_nothing(hagelloch_file, tmp_path, by, says):
    done = agora(tmp_path, "run", str(hagelloch_file), *RUN, "--runs", "2", "--until-done", "--by", by)
    assert done.returncode == 2 and says in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not done.stdout


def test_python_runs_by_a_category_and_a_synthetic_world_has_no_layers(hagelloch_file, tmp_path):
    result = sim.open_world(str(hagelloch_file)).ensemble(
        model="sir", params={"beta": 0.08, "gamma": 0.12}, runs=2, by="SEX", seed=3
    )
    series = result.runs[0]["series"]
    assert "new@SEX:female" in result.series.measures()
    groups = [k for k in series if k.startswith("new@SEX:")]
    assert groups == ["new@SEX:female", "new@SEX:male", "new@SEX:missing"]  # 7 children's sex is not recorded
    assert np.array_equal(sum(np.asarray(series[k]) for k in groups), np.asarray(series["new"]))
    flat = tmp_path / "flat.db"
    assert agora(tmp_path, "new", str(flat), "--agents", "60", "--avg-degree", "4").returncode == 0
    with pytest.raises(BadParameterError, match="this world has no contact layers"):
        sim.open_world(str(flat)).ensemble(model="sir", runs=2, by="layer")


def test_the_words_of_by():
    assert parse_by("AGE:0,5,15,65") == By("AGE", (0.0, 5.0, 15.0, 65.0))
    assert parse_by("AGE:0,5,15,65").text == "AGE:0,5,15,65" and parse_by("layer") == By("layer")
    assert [b.column for b in parse_bys(["layer", "SEX"])] == ["layer", "SEX"]
    with pytest.raises(BadParameterError, match="names 'SEX' twice"):
        parse_bys(["SEX", "SEX"])
    with pytest.raises(BadParameterError, match="must be numbers"):
        parse_by("AGE:a,b")
    with pytest.raises(BadParameterError, match="at most 62"):
        parse_by("x:" + ",".join(str(i) for i in range(63)))


def test_a_groups_table_of_age_bands_counts_the_children_of_each(hagelloch_file):
    """``agora analyze --by AGE:0,5,10,15`` and the Communities view group by bands of a number: one row per band,
    its size the children of that age in the table."""
    import asyncio

    from sim.analysis.groups import group_table
    from sim.store.worldread import open_world

    ages = np.array([float(row["AGE"]) for row in _table().values()])
    groups = group_table(asyncio.run(open_world(str(hagelloch_file))), "AGE:0,5,10,15")
    assert groups.labels == ("AGE:0-4", "AGE:5-9", "AGE:10-14", "AGE:15+") and groups.missing == 0
    sizes = [int(((ages >= lo) & (ages < hi)).sum()) for lo, hi in ((0, 5), (5, 10), (10, 15), (15, 99))]
    assert groups.table.size.tolist() == sizes


def test_a_sweep_counts_each_runs_new_infections_by_group_too(hagelloch_file, tmp_path):
    """``agora sweep --by``: every run of every arm gets its new@GROUP series, summing to its new at every tick; a
    column the world lacks is refused before any run, and --by without --series in one sentence."""
    sweep = ("sweep", str(hagelloch_file), "--model", "sir", "--grid", "beta=0.05,0.1", "--param", "gamma=0.12")
    done = agora(tmp_path, *sweep, "--runs", "2", "--seeds", "random:3", "--by", "layer", "--series", "s.csv")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "s.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    new: dict[tuple[str, str, str], float] = {}
    grouped: dict[tuple[str, str, str], float] = {}
    for row in rows:
        key = (row["beta"], row["run"], row["tick"])
        if row["measure"] == "new":
            new[key] = float(row["value"])
        elif row["measure"].startswith("new@"):
            grouped[key] = grouped.get(key, 0.0) + float(row["value"])
    assert {m for m in (r["measure"] for r in rows) if m.startswith("new@")} == {
        "new@household",
        "new@class",
        "new@none",
        "new@other",
    }
    assert new == grouped and {k[0] for k in new} == {"0.05", "0.1"} and {k[1] for k in new} == {"0", "1"}
    assert sum(new.values()) > 12  # more than the seeds: the groups count infections, not only the seeds
    for extra, says in ((("--by", "nope", "--series", "t.csv"), "no such column"), (("--by", "layer"), "--series")):
        bad = agora(tmp_path, *sweep, "--runs", "2", *extra)
        assert bad.returncode == 2 and says in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
        assert not (tmp_path / "t.csv").exists()
