"""Agent attributes on the command line (issue 59): ``agora new --people`` keeps them and says how many,
``agora agent`` shows them, ``agora export`` writes them (labels through the formula guard), ``agora set`` sets
any of them (a category from labels) and ``infectivity``, and refuses a bad label in one sentence with exit 2
and the world untouched."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import agora

DATA = Path(os.environ.get("AGORA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HAGELLOCH = DATA / "hagelloch.csv"
needs_data = pytest.mark.skipif(not HAGELLOCH.is_file(), reason="the datasets are not at $AGORA_DATA")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hagelloch(tmp_path: Path) -> Path:
    out = agora(tmp_path, "new", "h.db", "--people", str(HAGELLOCH), "--id", "PN", "--group", "HN:household")
    assert out.returncode == 0, out.stderr
    return tmp_path / "h.db"


def children() -> list[dict[str, str]]:
    with open(HAGELLOCH, newline="") as fh:
        return list(csv.DictReader(fh))


@needs_data
def test_new_says_how_many_attributes_it_kept_and_agent_shows_them(tmp_path):
    hagelloch(tmp_path)
    text = agora(tmp_path, "info", "h.db").stdout
    assert "attributes   25: NAME (category), FN (number), HN (number), AGE (number)," in text
    info = json.loads(agora(tmp_path, "info", "h.db", "--json").stdout)
    assert {"name": "CL", "kind": "category", "source": "people"} in info["attributes"]
    first = next(r for r in children() if r["CL"] == "preschool")
    agent = json.loads(agora(tmp_path, "agent", "h.db", first["PN"], "--json").stdout)
    assert agent["attributes"]["CL"] == "preschool" and agent["attributes"]["AGE"] == float(first["AGE"])
    assert agent["attributes"]["DEAD"] is None  # an empty cell
    shown = agora(tmp_path, "agent", "h.db", first["PN"]).stdout
    assert "  CL              preschool" in shown and "  DEAD            -" in shown
    check = agora(tmp_path, "check", "h.db")
    assert check.returncode == 0, check.stdout + check.stderr


@needs_data
def test_set_a_category_from_labels_then_clear_it(tmp_path):
    hagelloch(tmp_path)
    rows = children()
    labels = tmp_path / "cl.csv"
    labels.write_text("id,label\n" + "".join(f"{r['PN']},{'preschool' if i % 2 else ''}\n" for i, r in enumerate(rows)))
    out = agora(tmp_path, "set", "h.db", "CL", str(labels), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["missing"] == len(rows) - len(rows) // 2
    odd = json.loads(agora(tmp_path, "agent", "h.db", rows[1]["PN"], "--json").stdout)["attributes"]
    even = json.loads(agora(tmp_path, "agent", "h.db", rows[0]["PN"], "--json").stdout)["attributes"]
    assert odd["CL"] == "preschool" and even["CL"] is None
    info = json.loads(agora(tmp_path, "info", "h.db", "--json").stdout)
    assert {"name": "CL", "kind": "category", "source": "set"} in info["attributes"]
    cleared = agora(tmp_path, "set", "h.db", "CL", "--clear")
    assert cleared.returncode == 0, cleared.stderr
    info = json.loads(agora(tmp_path, "info", "h.db", "--json").stdout)
    assert "CL" not in [a["name"] for a in info["attributes"]] and len(info["attributes"]) == 24
    assert agora(tmp_path, "check", "h.db").returncode == 0


@needs_data
def test_a_bad_label_exits_2_naming_the_line_and_leaves_the_world_untouched(tmp_path):
    world = hagelloch(tmp_path)
    before = digest(world)
    rows = children()
    bad = tmp_path / "bad.csv"
    secret = "=HYPERLINK(top-secret)"
    bad.write_text(
        "id,label\n" + "".join(f"{r['PN']},{secret if i == 5 else '1st class'}\n" for i, r in enumerate(rows))
    )
    out = agora(tmp_path, "set", "h.db", "CL", str(bad))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "line 7: its label is not one of the 3 labels of CL" in out.stderr
    assert "top-secret" not in out.stderr  # a cell of the file is never echoed
    assert digest(world) == before


@needs_data
def test_set_infectivity_and_susceptibility_are_recorded_as_set(tmp_path):
    world = hagelloch(tmp_path)
    rows = children()
    values = tmp_path / "v.csv"
    values.write_text("".join(f"{r['PN']},{i / 400}\n" for i, r in enumerate(rows)))
    for column in ("infectivity", "susceptibility"):
        out = agora(tmp_path, "set", "h.db", column, str(values))
        assert out.returncode == 0, out.stderr
    info = json.loads(agora(tmp_path, "info", "h.db", "--json").stdout)
    kept = {a["name"]: a["source"] for a in info["attributes"]}
    assert kept["infectivity"] == "set" and kept["susceptibility"] == "set"
    negative = tmp_path / "n.csv"
    negative.write_text("".join(f"{r['PN']},{-1 if i == 0 else 1}\n" for i, r in enumerate(rows)))
    before = digest(world)
    out = agora(tmp_path, "set", "h.db", "infectivity", str(negative))
    assert out.returncode == 2 and "give finite numbers of at least 0" in out.stderr, out.stderr
    assert digest(world) == before
    assert agora(tmp_path, "check", "h.db").returncode == 0


def test_a_label_starting_with_equals_is_exported_guarded(tmp_path):
    (tmp_path / "p.csv").write_text("id,note,score\n1,=cmd(),1.5\n2,plain,\n3,,2\n")
    out = agora(tmp_path, "new", "p.db", "--people", "p.csv")
    assert out.returncode == 0, out.stderr
    out = agora(tmp_path, "export", "p.db", "p.csv.out", "--format", "csv")
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "p.csv.out", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["note"] for r in rows] == ["'=cmd()", "plain", ""]
    assert [r["score"] for r in rows] == ["1.5", "", "2.0"]


def test_the_agents_view_shows_attributes_as_plain_text():
    from tui.views._agents import AgentsView

    agent = SimpleNamespace(attributes=(("note", "[bold red]x[/]"), ("AGE", 7.0), ("DEAD", None)))
    text = AgentsView.attributes_text(agent)
    assert "note [bold red]x[/] · AGE 7 · DEAD -" in text.plain
    assert not any("red" in str(span.style) for span in text.spans)
