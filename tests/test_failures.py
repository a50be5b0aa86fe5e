"""No failure hidden inside a number: failed runs are counted, shown with the plugin's file:line, left
out of every statistic, and make the command exit with code 3.

The fixtures are plugins a user could write: a model that fails in about half of its runs, a content
recommender that raises, one that answers the wrong shape. The commands run in this process (``main``),
on a small real world file.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sim.cli.main import main
from sim.core.stats import mean_ci95

HALF = '''
import numpy as np
from sim.plugin import Param, PropagationModel, StepResult


class Half(PropagationModel):
    """An independent cascade that breaks in its start in about half of its runs (by the session's draw)."""

    name = "half"
    params = {"p": Param(float, 0.1, 0.0, 1.0)}

    def start(self, ctx):
        if ctx.rng.random() < 0.5:
            raise ValueError("half of the time")

    def step(self, ctx):
        src, dst, _, eid = ctx.gather()
        hit = ctx.random_edges(eid) < self.p["p"]
        dst, first = np.unique(dst[hit], return_index=True)
        return StepResult(dst.astype(np.int32), 1, src[hit][first].astype(np.int32), attempts=int(eid.size))
'''

RECOMMENDERS = """
import numpy as np
from sim.plugin import ContentRecommender, FriendRecommender


class Raises(ContentRecommender):
    name = "raises"

    def score(self, ctx):
        raise ValueError("the feed broke")


class WrongShape(ContentRecommender):
    name = "wrong-shape"

    def score(self, ctx):
        return np.zeros((3, 3))


class NoFriends(FriendRecommender):
    name = "no-friends"

    def suggest(self, ctx):
        raise KeyError("nobody")
"""

HALF_LINE = 'raise ValueError("half of the time")'


def cli(*args: str) -> tuple[int, str, str]:
    """``agora ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse's usage errors
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


def as_json(*args: str, code: int) -> tuple[dict, str]:
    got, out, err = cli(*args, "--json")
    assert got == code, err
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0]), err


@pytest.fixture(scope="module")
def world_file(tmp_path_factory) -> Path:
    from sim.store.create import synthetic_world
    from sim.store.worldfile import save_world

    path = tmp_path_factory.mktemp("failures") / "w.db"
    asyncio.run(save_world(synthetic_world("w", 1500, avg_degree=8, seed=3), str(path)))
    return path


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "half.py").write_text(HALF)
    (folder / "recs.py").write_text(RECOMMENDERS)
    return folder


def half_line(plugins: Path) -> int:
    return next(i for i, ln in enumerate((plugins / "half.py").read_text().splitlines(), 1) if HALF_LINE in ln)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_failed_runs_are_counted_and_left_out_of_the_statistics(world_file, plugins, workers):
    """About half of 24 runs fail: the mean and its interval are those of the completed runs alone,
    every failed run names the plugin's file and line, and the command exits 3."""
    result, err = as_json(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "half",
        "--plugins",
        str(plugins),
        "--runs",
        "24",
        "--workers",
        workers,
        code=3,
    )
    runs = result["runs"]
    failed = [r for r in runs if r["status"] == "failed"]
    done = [r for r in runs if r["status"] != "failed"]
    assert 4 <= len(failed) <= 20, "the fixture should fail in about half of its runs"
    assert (result["completed"], result["failed"]) == (len(done), len(failed))
    mean, ci = mean_ci95([float(r["reached"]) for r in done], 0, result["agents"])
    assert result["mean_reached"] == pytest.approx(mean) and result["ci95"] == pytest.approx(ci)
    assert result["mean_peak_tick"] == pytest.approx(np.mean([r["peak_tick"] for r in done]))
    where = f"{plugins / 'half.py'}:{half_line(plugins)}"
    for r in failed:
        assert r["reached"] is None and r["peak_tick"] is None
        assert r["error"] == "ValueError: half of the time"
        assert r["where"] == where
        assert HALF_LINE in r["traceback"] and "/sim/" not in r["traceback"]
    for r in done:
        assert r["error"] is None and r["where"] is None and r["traceback"] is None
    first = result["first_failure"]
    assert first["run"] == runs.index(failed[0]) and first["where"] == where
    assert f"{len(failed)} of 24 runs failed" in err and HALF_LINE in err


def test_the_same_runs_fail_whatever_the_number_of_workers(world_file, plugins):
    one, _ = as_json(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "half",
        "--plugins",
        str(plugins),
        "--runs",
        "10",
        "--workers",
        "1",
        code=3,
    )
    two, _ = as_json(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "half",
        "--plugins",
        str(plugins),
        "--runs",
        "10",
        "--workers",
        "2",
        code=3,
    )
    assert [(r["status"], r["reached"]) for r in one["runs"]] == [(r["status"], r["reached"]) for r in two["runs"]]


def test_text_says_how_many_failed_and_where(world_file, plugins):
    code, out, err = cli(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "half",
        "--plugins",
        str(plugins),
        "--runs",
        "12",
    )
    assert code == 3
    result, _ = as_json(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--model",
        "half",
        "--plugins",
        str(plugins),
        "--runs",
        "12",
        code=3,
    )
    k = result["failed"]
    assert f"{k} of 12 runs failed" in out
    assert f"half.py:{half_line(plugins)}" in out
    assert f"over the {12 - k} completed runs" in out
    assert "Traceback (most recent call last):" in err and HALF_LINE in err


def test_when_every_run_fails_there_is_no_mean(world_file, plugins, tmp_path):
    """The seeds alone are not a result: no mean, no interval, no series file, exit 3."""
    series = tmp_path / "s.csv"
    result, _ = as_json(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--recommender",
        "raises",
        "--plugins",
        str(plugins),
        "--runs",
        "3",
        "--series",
        str(series),
        code=3,
    )
    assert (result["completed"], result["failed"]) == (0, 3)
    assert result["mean_reached"] is None and result["ci95"] == [None, None] and result["mean_peak_tick"] is None
    assert not series.exists()
    code, out, _ = cli(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--recommender",
        "raises",
        "--plugins",
        str(plugins),
        "--runs",
        "3",
    )
    assert code == 3 and "mean reached: none (no run completed)" in out


def test_a_dead_cascade_is_a_completed_run(world_file):
    """Exit 0 means every run completed, however small its reach: p = 0 reaches only the seeds."""
    result, _ = as_json(
        "run", str(world_file), "--until-done", "--inject", "x", "--param", "p=0", "--runs", "3", code=0
    )
    assert result["failed"] == 0 and [r["reached"] for r in result["runs"]] == [10, 10, 10]


@pytest.mark.parametrize(
    "name, error, line",
    [
        ("raises", "recommender 'raises' failed: ValueError: the feed broke", 'raise ValueError("the feed broke")'),
        ("wrong-shape", "recommender wrong-shape returned scores of shape (3, 3)", "def score(self, ctx):"),
    ],
)
def test_a_failing_recommender_fails_the_runs_it_feeds(world_file, plugins, name, error, line):
    result, err = as_json(
        "run",
        str(world_file),
        "--until-done",
        "--inject",
        "x",
        "--recommender",
        name,
        "--plugins",
        str(plugins),
        "--runs",
        "2",
        code=3,
    )
    source = (plugins / "recs.py").read_text().splitlines()
    for r in result["runs"]:
        assert r["status"] == "failed" and r["recommender"] == name and r["reached"] is None
        assert r["error"].startswith(error)
        path, _, lineno = r["where"].rpartition(":")
        assert path == str(plugins / "recs.py") and line in source[int(lineno) - 1]
    assert "recs.py" in err


def test_a_failing_friend_recommender_fails_the_runs_it_feeds(world_file, plugins):
    result, _ = as_json(
        "run",
        str(world_file),
        "--steps",
        "4",
        "--inject",
        "x",
        "--friend-recommender",
        "no-friends",
        "--plugins",
        str(plugins),
        "--runs",
        "2",
        code=3,
    )
    for r in result["runs"]:
        assert r["status"] == "failed" and r["recommender"] == "no-friends"
        assert r["error"] == "friend recommender 'no-friends' failed: KeyError: 'nobody'"
        assert r["where"].startswith(str(plugins / "recs.py") + ":")


def test_a_failing_recommender_arm_is_not_the_arm_without_one(world_file, plugins):
    """The arm fails; it does not quietly report the numbers of 'none' with a difference of +0.0."""
    result, err = as_json(
        "sweep",
        str(world_file),
        "--grid",
        "recommender=none,raises,wrong-shape",
        "--plugins",
        str(plugins),
        "--runs",
        "3",
        "--workers",
        "1",
        code=3,
    )
    none, raises, shape = result["results"]
    assert (none["completed"], none["failed"]) == (3, 0)
    for arm in (raises, shape):
        assert (arm["completed"], arm["failed"]) == (0, 3) and arm["mean_reached"] is None
        assert arm["paired"]["pairs"] == 0 and arm["paired"]["reach_diff_mean"] is None
        assert "recs.py" in arm["first_failure"]["where"]
    assert (result["completed"], result["failed"], result["failed_arms"]) == (3, 6, 2)
    assert "6 of 9 runs failed, in 2 of 3 combinations" in err
    code, out, _ = cli(
        "sweep",
        str(world_file),
        "--grid",
        "recommender=none,raises",
        "--plugins",
        str(plugins),
        "--runs",
        "3",
        "--workers",
        "1",
    )
    assert code == 3 and "0 (3 failed)" in out and "(0 pairs)" in out


def test_paired_differences_use_only_pairs_where_both_completed(world_file, plugins):
    result, _ = as_json(
        "sweep",
        str(world_file),
        "--grid",
        "model=ic,half",
        "--plugins",
        str(plugins),
        "--runs",
        "12",
        "--workers",
        "1",
        code=3,
    )
    ic, half = result["results"]
    both = [
        (a, b) for a, b in zip(ic["per_run"], half["per_run"]) if a["status"] != "failed" and b["status"] != "failed"
    ]
    assert 0 < len(both) < 12 and half["paired"]["pairs"] == len(both)
    assert half["paired"]["reach_diff_mean"] == pytest.approx(np.mean([b["reached"] - a["reached"] for a, b in both]))


def test_a_persisted_run_switches_a_failing_recommender_off_and_says_so(world_file, plugins, tmp_path):
    target = tmp_path / "live.db"
    target.write_bytes(world_file.read_bytes())
    result, err = as_json(
        "run",
        str(target),
        "--steps",
        "4",
        "--inject",
        "x",
        "--recommender",
        "raises",
        "--plugins",
        str(plugins),
        code=3,
    )
    run = result["runs"][0]
    # The world went on without the recommender (not failed); --steps 4 left its session running.
    assert run["status"] == run["session_status"] == "running"
    (off,) = run["recommender_errors"]
    assert off["recommender"] == "raises" and off["role"] == "content" and "recs.py" in off["where"]
    assert "recommender raises failed and was switched off" in err
    code, out, _ = cli("run", str(target), "--steps", "2")
    assert code == 0  # no session, no recommender failing now: the earlier failure is not this run's


def test_a_persisted_failed_session_keeps_its_traceback(world_file, plugins, tmp_path):
    from sim.store.worldfile import open_world

    target = tmp_path / "fail.db"
    target.write_bytes(world_file.read_bytes())
    for seed in range(20):  # a session seed whose run fails
        code, out, _ = cli(
            "run",
            str(target),
            "--until-done",
            "--inject",
            "x",
            "--model",
            "half",
            "--plugins",
            str(plugins),
            "--seed",
            str(seed),
            "--json",
        )
        if code == 3:
            break
    else:
        pytest.fail("no seed of 20 made the fixture fail")
    run = json.loads(out)["runs"][0]
    with sqlite3.connect(target) as db:
        status, error, tb = db.execute(
            "SELECT status, error, traceback FROM sessions WHERE id = ?", (run["session"],)
        ).fetchone()
    assert status == "failed" and error == "ValueError: half of the time"
    assert HALF_LINE in tb and tb.startswith("Traceback")
    world = asyncio.run(open_world(str(target)))
    s = next(x for x in world.sessions if x.id == run["session"])
    assert s.traceback == tb


def test_a_seed_selection_that_cannot_be_met_is_refused_before_any_run(world_file, tmp_path):
    before = world_file.read_bytes()
    for args in (
        ["run", str(world_file), "--until-done", "--inject", "x", "--seeds", "top:200000", "--runs", "3"],
        ["run", str(world_file), "--until-done", "--inject", "x", "--seeds", "random:1501"],
        ["sweep", str(world_file), "--seeds", "random:1501", "--runs", "2"],
    ):
        code, out, err = cli(*args)
        assert code == 2 and out == "", err
        assert len(err.splitlines()) == 1 and "1,500" in err.replace("1500", "1,500"), err
    assert world_file.read_bytes() == before


def test_flags_are_never_abbreviated(tmp_path):
    code, _, err = cli("new", str(tmp_path / "x.db"), "--agent", "1000")
    assert code == 2 and not (tmp_path / "x.db").exists()
    assert "did you mean --agents (not --agent)" in err
    code, _, err = cli("new", str(tmp_path / "x.db"), "--nodes", "1000")
    assert code == 2 and "did you mean --agents (not --nodes)" in err


def test_steps_give_one_round_fewer_and_runs_report_rounds(world_file):
    run = ("run", str(world_file), "--steps", "5", "--inject", "x", "--param", "p=0.05", "--runs", "2")
    result, _ = as_json(*run, "--kernel", "engine", code=0)
    for r in result["runs"]:
        assert r["ticks"] == 5 and r["rounds"] == 4
        assert r["status"] == "completed" and r["session_status"] in ("running", "completed")
        assert r["ended"] == (r["session_status"] == "completed")
    batched, _ = as_json(*run, "--kernel", "batched", code=0)  # other live edges: a cascade may end sooner
    for r in batched["runs"]:
        assert r["ticks"] == 5 and r["rounds"] <= 4 and r["status"] == "completed"
        assert r["ended"] == (r["session_status"] == "completed") == (r["rounds"] < 4 or r["new_per_tick"][-1] == 0)


def test_edge_changing_models_report_their_edge_changes(world_file):
    result, _ = as_json(
        "run",
        str(world_file),
        "--until-done",
        "--max-ticks",
        "30",
        "--inject",
        "x",
        "--model",
        "adaptive-sis",
        "--runs",
        "2",
        code=0,
    )
    assert all(r["edges_removed"] > 0 and r["edges_removed"] == r["edges_added"] for r in result["runs"])
    plain, _ = as_json("run", str(world_file), "--steps", "3", "--inject", "x", "--runs", "1", code=0)
    assert plain["runs"][0]["edges_removed"] == plain["runs"][0]["edges_added"] == 0


def test_the_export_writes_the_communities_agora_agent_shows(world_file, tmp_path):
    """A planted world has communities: an export uses them, it does not detect new ones."""
    import csv

    out = tmp_path / "agents.csv"
    code, _, err = cli("export", str(world_file), str(out))
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    from sim.store.worldfile import open_world

    world = asyncio.run(open_world(str(world_file)))
    comm = world.columns["community"]
    assert [int(r["community"]) for r in rows] == [int(comm[world.index_of(int(r["id"]))]) for r in rows]
    for agent in ("0", "42", "777"):
        code, text, _ = cli("agent", str(world_file), agent, "--json")
        shown = json.loads(text)["community"]
        assert shown == int(next(r["community"] for r in rows if r["id"] == agent))


def test_help_documents_the_exit_codes():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = buf.getvalue()
    for line in ("0  done", "2  bad input", "3  the command finished, but some runs"):
        assert line in text
    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    assert "| 3 | the command finished" in docs and "| 2 | bad input" in docs
