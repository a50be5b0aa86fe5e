"""Agent attributes (issue 59): every column of a people table kept with the world, numbers as float64 columns
(NaN missing), text as categories (int32 codes and their labels as arrays); through world files, snapshots and
``agora check``; damaged files refused in one sentence; worlds without attributes unchanged."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sim.core.attributes import Labels, check_labels
from sim.errors import BadFileError
from sim.model.columns import apply_column, clear_column
from sim.store.check import check_world
from sim.store.contacts import GroupLayer, people_world
from sim.store.create import synthetic_world
from sim.store.people import read_people
from sim.store.snapshot import load_snapshot, save_snapshot
from sim.store.worldfile import checkpoint_world, open_world, read_meta, save_world

DATA = Path(os.environ.get("AGORA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HAGELLOCH = DATA / "hagelloch.csv"
needs_data = pytest.mark.skipif(not HAGELLOCH.is_file(), reason="the datasets are not at $AGORA_DATA")


def hagelloch_world():
    table = read_people(str(HAGELLOCH), "PN")
    return people_world("h", table, [GroupLayer("HN", "household")], seed=3)


def rows_by_id() -> dict[int, dict[str, str]]:
    with open(HAGELLOCH, newline="") as fh:
        return {int(r["PN"]): r for r in csv.DictReader(fh)}


def tiny_table(tmp_path, text: str):
    path = tmp_path / "people.csv"
    path.write_text(text)
    return read_people(str(path), "id")


def same_attributes(a, b) -> None:
    assert a.attributes == b.attributes
    for name, spec in a.attributes.items():
        x, y = a.columns[name], b.columns[name]
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        if spec["kind"] == "category":
            assert a.category_labels(name) == b.category_labels(name)


@needs_data
def test_hagelloch_keeps_age_as_a_number_and_class_as_a_category():
    world = hagelloch_world()
    rows = rows_by_id()
    ids = world.columns["ids"].tolist()
    assert world.attributes["AGE"] == {"kind": "number", "source": "people", "header": "AGE"}
    assert world.attributes["CL"] == {"kind": "category", "source": "people", "header": "CL"}
    assert world.attributes["x_loc"]["header"] == "x.loc"
    assert "PN" not in world.attributes and len(world.attributes) == 25
    age = world.columns["AGE"]
    assert age.dtype == np.float64 and age.tolist() == [float(rows[i]["AGE"]) for i in ids]
    labels = world.category_labels("CL")
    assert "preschool" in labels
    codes = world.columns["CL"]
    assert codes.dtype == np.int32 and [labels[c] for c in codes] == [rows[i]["CL"] for i in ids]
    # An empty cell is missing: NaN for a number (TD), None for the agent.
    missing = [k for k, i in enumerate(ids) if rows[i]["TD"] == ""]
    assert missing and np.isnan(world.columns["TD"][missing]).all()
    shown = world.agent(missing[0]).to_dict()["attributes"]
    assert shown["TD"] is None and shown["CL"] == rows[ids[missing[0]]]["CL"]


@needs_data
def test_a_world_file_and_a_snapshot_keep_the_attributes_and_agora_check_passes(tmp_path):
    world = hagelloch_world()
    path, snap = str(tmp_path / "h.db"), str(tmp_path / "h.snap")
    asyncio.run(save_world(world, path))
    meta = read_meta(path)
    assert meta["format_version"] == 3 and meta["attributes"]["CL"]["kind"] == "category"
    with sqlite3.connect(path) as con:
        names = {r[0] for r in con.execute("SELECT name FROM arrays WHERE name LIKE 'label.%'")}
    assert {"label.CL", "label.CL.offsets", "label.SEX", "label.SEX.offsets"} <= names
    back = asyncio.run(open_world(path))
    same_attributes(world, back)
    report = check_world(path)
    assert report["ok"], report["problems"]
    save_snapshot(back, snap)
    same_attributes(world, load_snapshot(snap))


def test_a_world_without_attributes_writes_what_it_wrote_before(tmp_path):
    world = synthetic_world("plain", 200, avg_degree=4, seed=1)
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(world, path))
    meta = read_meta(path)
    assert meta["format_version"] == 2 and "attributes" not in meta
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM arrays WHERE name LIKE 'label.%'").fetchone() == (0,)
    back = asyncio.run(open_world(path))
    assert back.attributes == {} and back.labels == {}
    assert "attributes" not in back.agent(0).to_dict()


def test_setting_susceptibility_records_it_and_keeps_version_2(tmp_path):
    world = synthetic_world("s", 50, avg_degree=4, seed=2)
    path = str(tmp_path / "w.db")
    asyncio.run(save_world(world, path))
    world = asyncio.run(open_world(path))
    apply_column(world, "susceptibility", np.full(world.n, 0.25, dtype=np.float32))
    asyncio.run(checkpoint_after(path, world))
    meta = read_meta(path)
    assert meta["attributes"] == {"susceptibility": {"kind": "number", "source": "set", "header": "susceptibility"}}
    assert meta["format_version"] == 2  # the built-in column an older Agora reads as it always did
    back = asyncio.run(open_world(path))
    assert "susceptibility" in back.attributes and np.all(back.columns["susceptibility"] == np.float32(0.25))


async def checkpoint_after(path: str, world) -> None:
    import aiosqlite

    async with aiosqlite.connect(path) as db:
        await checkpoint_world(db, world)


def test_clearing_a_category_removes_its_labels_and_the_last_attribute_its_metadata(tmp_path):
    table = tiny_table(tmp_path, "id,house\n1,a\n2,b\n3,a\n")
    world = people_world("t", table, [])
    path = str(tmp_path / "t.db")
    asyncio.run(save_world(world, path))
    world = asyncio.run(open_world(path))
    clear_column(world, "house")
    asyncio.run(checkpoint_after(path, world))
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM arrays WHERE name LIKE 'label.%'").fetchone() == (0,)
        assert con.execute("SELECT COUNT(*) FROM meta WHERE key = 'attributes'").fetchone() == (0,)
    back = asyncio.run(open_world(path))
    assert back.attributes == {} and "house" not in back.columns
    assert check_world(path)["ok"]


@pytest.mark.parametrize(
    "text, says",
    [
        ("id,susceptibility\n1,0.5\n2,1.5\n", "line 3: its susceptibility is 1.5: give every person a susceptibility"),
        ("id,susceptibility\n1,0.5\n2,\n", "line 3: its susceptibility is empty"),
        ("id,infectivity\n1,-1\n2,1\n", "line 2: its infectivity is -1: give every person a infectivity of at least 0"),
        ("id,infectivity\n1,high\n2,low\n", "holds text, and infectivity is a number"),
        ("id,weight\n1,inf\n2,1\n", "line 2: its weight is inf: give finite numbers"),
    ],
)
def test_measured_columns_break_their_rules_in_one_sentence(tmp_path, text, says):
    table = tiny_table(tmp_path, text)
    with pytest.raises(BadFileError) as err:
        people_world("t", table, [])
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_measured_susceptibility_replaces_the_drawn_one(tmp_path):
    table = tiny_table(tmp_path, "id,susceptibility,infectivity\n7,0.5,2\n3,0.25,0\n")
    world = people_world("t", table, [])
    assert world.columns["ids"].tolist() == [3, 7]
    assert world.columns["susceptibility"].tolist() == [0.25, 0.5]
    assert world.columns["susceptibility"].dtype == np.float32 and "susceptibility" not in world.labels
    assert world.attributes["susceptibility"]["source"] == "people"
    assert world.columns["infectivity"].tolist() == [0.0, 2.0]


def test_labels_map_texts_to_codes():
    labels = Labels.of(["1st class", "preschool", "ä"])
    assert labels.tolist() == ("1st class", "preschool", "ä")
    codes = labels.codes_of(np.array(["preschool", "", "ä", "nope", "1st class"]))
    assert codes.tolist() == [1, -1, 2, -2, 0]
    assert Labels(labels.data, labels.offsets).tolist() == labels.tolist()  # decoded from the arrays alone


def _corrupt_offsets(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = offsets.copy()
    bad[-1] = 10**12  # past the bytes: nothing may be read there
    return bad, data


def _split_character(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = offsets.copy()
    bad[1] = 2  # after "M\xc3": the next label starts inside "ü" (two bytes)
    return bad, data


def _not_utf8(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = data.copy()
    bad[0] = 0xFF
    return offsets, bad


def _empty_label(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = offsets.copy()
    bad[1] = 10**12  # a label that would end past the bytes, and the next one run backwards
    return bad, data


@pytest.mark.parametrize(
    "corrupt, says",
    [
        (_corrupt_offsets, "the label offsets of attribute house do not span"),
        (_split_character, "starts inside a character"),
        (_not_utf8, "are not UTF-8 text"),
        (_empty_label, "is empty or longer than"),
    ],
)
def test_damaged_labels_are_refused_in_one_sentence(tmp_path, corrupt, says):
    table = tiny_table(tmp_path, "id,house\n1,Müller\n2,b\n3,Müller\n")
    world = people_world("t", table, [])
    path = str(tmp_path / "t.db")
    asyncio.run(save_world(world, path))
    offsets, data = corrupt(world.labels["house"].offsets, world.labels["house"].data)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE arrays SET data = ? WHERE name = 'label.house.offsets'", (offsets.tobytes(),))
        con.execute("UPDATE arrays SET data = ? WHERE name = 'label.house'", (data.tobytes(),))
    with pytest.raises(BadFileError) as err:
        asyncio.run(open_world(path))
    assert says in str(err.value) and "\n" not in str(err.value)
    report = check_world(path)
    assert not report["ok"] and any(says in p for p in report["problems"])


@pytest.mark.parametrize(
    "change, says",
    [
        ({"house": {"kind": "number", "source": "people", "header": "house"}}, "is a number but has labels"),
        ({"house": {"kind": "category", "source": "file", "header": "house"}}, "its kind, source and header"),
        ({"community": {"kind": "number", "source": "set", "header": "x"}}, "a built-in column that data cannot"),
        (
            {
                "house": {"kind": "category", "source": "people", "header": "house"},
                "ghost": {"kind": "number", "source": "set", "header": "g"},
            },
            "attribute ghost has no column",
        ),
        ([1, 2], "not a mapping"),
    ],
)
def test_damaged_attribute_metadata_is_refused(tmp_path, change, says):
    table = tiny_table(tmp_path, "id,house\n1,a\n2,b\n")
    path = str(tmp_path / "t.db")
    asyncio.run(save_world(people_world("t", table, []), path))
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'attributes'", (json.dumps(change),))
    with pytest.raises(BadFileError, match=says):
        asyncio.run(open_world(path))


def test_a_code_beyond_the_labels_and_repeated_labels_are_found():
    labels = Labels.of(["a", "b"])
    assert "names none of its 2 labels" in check_labels("x", labels, np.array([0, 2], dtype=np.int32), 2)[0]
    twice = Labels(Labels.of(["a", "a"]).data, Labels.of(["a", "a"]).offsets)
    with pytest.raises(BadFileError, match="two labels"):
        twice.tolist()


def test_a_snapshot_with_damaged_labels_is_refused_and_the_world_left_alone(tmp_path):
    table = tiny_table(tmp_path, "id,house\n1,a\n2,b\n")
    world = people_world("t", table, [])
    world.labels["house"] = Labels(world.labels["house"].data, np.array([0, 1, 99], dtype=np.int64))
    snap = str(tmp_path / "t.snap")
    save_snapshot(world, snap)
    with pytest.raises(BadFileError, match="the current world was left as it was") as err:
        load_snapshot(snap)
    assert "label offsets of attribute house" in str(err.value)


@needs_data
def test_agents_in_python_give_numbers_and_pandas_categoricals(tmp_path):
    pd = pytest.importorskip("pandas")
    import sim

    path = str(tmp_path / "h.db")
    asyncio.run(save_world(hagelloch_world(), path))
    agents = sim.open_world(path).agents
    assert agents["AGE"].dtype == np.float64 and agents["CL"].dtype == np.int32
    assert "preschool" in agents.labels("CL") and agents.attributes["CL"]["kind"] == "category"
    frame = agents.to_pandas()
    assert isinstance(frame["CL"].dtype, pd.CategoricalDtype)
    rows = rows_by_id()
    assert frame["CL"].astype(str).tolist() == [rows[i]["CL"] for i in frame["id"]]
    assert frame["DEAD"].isna().sum() == sum(1 for r in rows.values() if r["DEAD"] == "")


@needs_data
def test_new_world_from_a_dataframe_is_the_command_lines_world(tmp_path):
    pd = pytest.importorskip("pandas")
    import sim

    frame = pd.read_csv(HAGELLOCH)
    made = sim.new_world(
        str(tmp_path / "py.db"), people=frame, id="PN", groups=["HN:household", "CL:class"], skip=["preschool"]
    )
    from_file = sim.new_world(
        str(tmp_path / "f.db"),
        people=str(HAGELLOCH),
        id="PN",
        groups=["HN:household", "CL:class"],
        skip=["preschool"],
    )
    a = asyncio.run(open_world(str(tmp_path / "py.db")))
    b = asyncio.run(open_world(str(tmp_path / "f.db")))
    same_attributes(a, b)
    assert a.layers == b.layers == ("household", "class")
    assert np.array_equal(a.graph.out_indices, b.graph.out_indices) and np.array_equal(a.graph.layer, b.graph.layer)
    assert made.agents == from_file.agents == 188


def test_new_world_from_a_dataframe_refuses_bad_ids_in_one_sentence(tmp_path):
    pd = pytest.importorskip("pandas")
    import sim

    frame = pd.DataFrame({"id": [1, 2, 2], "age": [3.0, None, 5.0]})
    with pytest.raises(BadFileError, match=r"rows 1 and 2 have the same id 2"):
        sim.new_world(str(tmp_path / "w.db"), people=frame)
    frame = pd.DataFrame({"id": [1.5, 2.0], "age": [3.0, 4.0]})
    with pytest.raises(BadFileError, match="must be whole numbers"):
        sim.new_world(str(tmp_path / "w.db"), people=frame)
    with pytest.raises(Exception, match="agents shapes a synthetic world"):
        sim.new_world(str(tmp_path / "w.db"), people=pd.DataFrame({"id": [1]}), agents=5)
    assert not (tmp_path / "w.db").exists()
    frame = pd.DataFrame({"id": [5, 4], "x.y": ["a", " b "], "n": pd.array([1, None], dtype="Int64")})
    sim.new_world(str(tmp_path / "ok.db"), people=frame)
    world = asyncio.run(open_world(str(tmp_path / "ok.db")))
    assert world.category_labels("x_y") == ("a", "b") and world.columns["x_y"].tolist() == [1, 0]
    assert np.isnan(world.columns["n"][0]) and world.columns["n"][1] == 1.0  # agents in id order: 4, 5
