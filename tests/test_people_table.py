"""A table of people read as it is (issue 59): one person per row, none dropped, numbers as numbers (NaN for an
empty cell) and text as categories with their labels; bad tables refused in one sentence naming the line."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from sim.errors import BadFileError
from sim.store.people import read_people

DATA = Path(os.environ.get("AGORA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def table(tmp_path: Path, text: str, name: str = "people.csv") -> str:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", ["people.csv", "people.csv.gz"])
def test_every_row_is_a_person_with_typed_attributes(tmp_path, name):
    t = read_people(table(tmp_path, "id,age,x.loc,class\n3,7,1.5,1st\n1,,2.5,\n2,12,-3e1,2nd\n", name), "id")
    assert t.ids.tolist() == [3, 1, 2] and t.rows == 3
    assert np.array_equal(t.numbers["age"], [7.0, np.nan, 12.0], equal_nan=True)
    assert t.numbers["x_loc"].tolist() == [1.5, 2.5, -30.0] and t.renamed == {"x.loc": "x_loc"}
    assert t.categories["class"].codes.tolist() == [0, -1, 1] and t.categories["class"].labels == ("1st", "2nd")
    assert t.headers == {"age": "age", "x_loc": "x.loc", "class": "class"}


def test_quoted_cells_are_read_by_the_csv_reader(tmp_path):
    t = read_people(table(tmp_path, 'PN,NAME,HN\n1,"Mueller, Anna",61\n2,"Seibold",62\n'), "PN")
    assert t.categories["NAME"].labels == ("Mueller, Anna", "Seibold") and t.numbers["HN"].tolist() == [61, 62]


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "is empty"),
        ("pid,age\n1,3\n", "has no column 'id' among its 2 columns"),
        ("id,age\n1,3\n1,4\n", "lines 2 and 3 have the same id 1: give each person one row"),
        ("id,age\n1,3\n2.5,4\n", "line 3: its id is not a whole number"),
        ("id,age\n1,3\n,4\n", "line 3: its id is empty"),
        ('id,age\n1,3\n2,"4",5\n', "line 3 has 3 cells, its header 2"),
        ("id,a.b,a_b\n1,3,4\n", "its 2nd and 3rd columns both become attribute a_b: rename one"),
        ("id,community\n1,3\n", "a name Agora keeps for its own column"),
    ],
)
def test_a_bad_table_is_one_sentence_naming_the_line(tmp_path, text, why):
    with pytest.raises(BadFileError, match=why.replace("(", r"\(").replace(")", r"\)")):
        read_people(table(tmp_path, text), "id")


def test_a_measured_builtin_may_be_given(tmp_path):
    t = read_people(table(tmp_path, "id,susceptibility\n1,0.5\n2,0.25\n"), "id")
    assert t.numbers["susceptibility"].tolist() == [0.5, 0.25]


@pytest.mark.skipif(not (DATA / "hagelloch.csv").is_file(), reason="the datasets are not at $AGORA_DATA")
def test_hagelloch_is_188_children():
    t = read_people(str(DATA / "hagelloch.csv"), "PN")
    assert t.rows == 188 and sorted(t.ids.tolist()) == list(range(1, 189))
    cl = t.categories["CL"]
    assert sorted(cl.labels) == ["1st class", "2nd class", "preschool"]
    assert [int(np.count_nonzero(cl.codes == cl.labels.index(x))) for x in ("preschool", "1st class", "2nd class")] == [
        90,
        30,
        68,
    ]
    assert int(np.isnan(t.numbers["tDEAD"]).sum()) == 188 - 12 and len(set(t.numbers["HN"].tolist())) == 56
    assert t.renamed == {"x.loc": "x_loc", "y.loc": "y_loc"}


@pytest.mark.skipif(not (DATA / "hagelloch.csv").is_file(), reason="the datasets are not at $AGORA_DATA")
def test_a_parquet_table_reads_as_its_csv(tmp_path):
    pa_csv = pytest.importorskip("pyarrow.csv")
    pq = pytest.importorskip("pyarrow.parquet")
    path = str(tmp_path / "hagelloch.parquet")
    import pyarrow as pa

    read = pa_csv.read_csv(str(DATA / "hagelloch.csv"))
    for i, f in enumerate(read.schema):  # dates as their text (a date column is not a people attribute yet)
        if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type):
            read = read.set_column(i, f.name, read.column(i).cast(pa.string()))
    pq.write_table(read, path)
    a, b = read_people(str(DATA / "hagelloch.csv"), "PN"), read_people(path, "PN")
    assert np.array_equal(a.ids, b.ids) and a.renamed == b.renamed
    assert set(a.numbers) <= set(b.numbers) | set(b.categories)
    for name, values in a.numbers.items():
        assert np.array_equal(values, b.numbers[name], equal_nan=True), name
    for name in ("CL", "SEX", "NAME"):
        ca, cb = a.categories[name], b.categories[name]
        assert [ca.labels[c] if c >= 0 else None for c in ca.codes] == [
            cb.labels[c] if c >= 0 else None for c in cb.codes
        ], name
    assert int(np.count_nonzero(a.categories["SEX"].codes < 0)) > 0  # a child of unknown sex: missing, not ""
    with pytest.raises(BadFileError, match="has no column 'id'"):
        read_people(path, "id")
