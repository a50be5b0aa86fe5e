"""``agora new WORLD --people FILE`` (issue 59) on the real Hagelloch table: every child an agent, the
households and classes as contact layers, the children with no contact kept; bad options refused in one
sentence with exit 2 and no world file left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import agora, data_file

DATA = Path(os.environ.get("AGORA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
HAGELLOCH = DATA / "hagelloch.csv"
pytestmark = pytest.mark.skipif(not HAGELLOCH.is_file(), reason="the datasets are not at $AGORA_DATA")


def test_hagelloch_is_188_children_in_households_and_classes(tmp_path):
    args = ["new", "h.db", "--people", str(HAGELLOCH), "--id", "PN", "--group", "HN:household"]
    out = agora(tmp_path, *args, "--group", "CL:class", "--skip", "preschool", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["agents"] == 188 and info["format_version"] == 3
    assert info["layers"] == [
        {"name": "household", "edges": 658, "mean_degree": round(658 / 188, 6)},
        {"name": "class", "edges": 30 * 29 + 68 * 67, "mean_degree": round((30 * 29 + 68 * 67) / 188, 6)},
    ]
    assert info["source"]["isolated"] == 4 and info["source"]["renamed"] == {"x.loc": "x_loc", "y.loc": "y_loc"}
    text = agora(tmp_path, "info", "h.db").stdout
    assert "layers       household (658 edges, mean degree 3.5), class (5,426 edges, mean degree 28.9)" in text
    assert "people       hagelloch.csv (188 rows, id column PN; 4 isolated agents with no contact)" in text
    village = agora(
        tmp_path, "new", "v.db", "--people", str(HAGELLOCH), "--id", "PN", "--near", "x.loc,y.loc:50:village"
    )
    assert village.returncode == 0, village.stderr
    assert json.loads(agora(tmp_path, "info", "v.db", "--json").stdout)["layers"][0]["name"] == "village"


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--group", "HN"], "has no column 'id' among its 26 columns"),
        (["--id", "PN", "--group", "nope"], "--group nope: the people table has no such column"),
        (["--id", "PN", "--group", "HN:h", "--group", "FN:h"], "layer h is named twice"),
        (["--id", "PN", "--near", "SEX,AGE:5"], "--near SEX is not numeric"),
        (["--id", "PN", "--near", "x.loc:5"], "is not X,Y:R[:LAYER]"),
        (["--id", "PN", "--group", "HN:max=0"], "max must be a whole number of at least 1"),
        (["--id", "PN", "--skip", "preschool"], "--skip leaves a value out of the --group layers"),
        (["--id", "PN", "--directed"], "--directed is for an --edges file"),
    ],
)
def test_bad_options_are_one_sentence_and_leave_no_world(tmp_path, extra, says):
    out = agora(tmp_path, "new", "bad.db", "--people", str(HAGELLOCH), *extra)
    assert out.returncode == 2 and says in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert not (tmp_path / "bad.db").exists()


def test_people_options_need_a_table(tmp_path):
    out = agora(tmp_path, "new", "w.db", "--agents", "10", "--group", "HN")
    assert out.returncode == 2 and "--group describes a table of people: give --people FILE" in out.stderr


def test_info_names_the_isolated_children_as_the_table_says(tmp_path):
    """The four children agora info lists as isolated are exactly those alone in their house and at no school."""
    import csv
    from collections import Counter

    rows = list(csv.DictReader(open(data_file("hagelloch.csv"))))
    houses = Counter(r["HN"] for r in rows)
    alone = sorted(int(r["PN"]) for r in rows if houses[r["HN"]] == 1 and r["CL"] == "preschool")
    assert len(alone) == 4
    made = agora(
        tmp_path, "new", "h.db", "--people", str(data_file("hagelloch.csv")), "--id", "PN",
        "--group", "HN:household", "--group", "CL:class", "--skip", "preschool",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    out = agora(tmp_path, "info", "h.db")
    assert f"isolated     ids {', '.join(map(str, alone))}\n" in out.stdout


def test_a_world_of_people_ticks_in_days_unless_told(tmp_path):
    """The first user's third snag: a world made from a table of people ticked in 10 minutes, so an epidemic's
    header read "day 2 07:40" after 142 ticks. Now its ticks are days (its header the day alone, agora info says
    so); --minutes-per-tick still says otherwise, and a synthetic world keeps its 10 minutes."""
    from sim.live.views import HeaderFigures, LLMStatus
    from tui.widgets import StatusHeader

    base = ["--people", str(HAGELLOCH), "--id", "PN", "--group", "HN:household", "--json"]
    assert agora(tmp_path, "new", "days.db", *base).returncode == 0
    assert agora(tmp_path, "new", "mins.db", *base, "--minutes-per-tick", "10").returncode == 0
    assert agora(tmp_path, "new", "synth.db", "--agents", "50", "--avg-degree", "4").returncode == 0
    minutes = {
        name: json.loads(agora(tmp_path, "info", f"{name}.db", "--json").stdout)["minutes_per_tick"]
        for name in ("days", "mins", "synth")
    }
    assert minutes == {"days": 1440, "mins": 10, "synth": 10}
    assert "tick         0 (ticks of 1d)" in agora(tmp_path, "info", "days.db").stdout

    class Snap:  # the header's figures of a world at tick 142
        name, tick, state, running, db_backpressure, agents, edges = "h", 142, "paused", False, False, 188, 658

    def header(minutes_per_tick: int) -> str:
        figures = HeaderFigures(Snap(), minutes_per_tick, 8, LLMStatus("offline"))  # type: ignore[arg-type]
        return StatusHeader.line(figures, busy=None, pace=1.0, rate="").plain

    assert "tick 142  day 143  PAUSED" in header(1440)
    assert "tick 142  day 2 07:40  PAUSED" in header(10)
