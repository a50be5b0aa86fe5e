"""The public Python API (``import sim``) against the real ``agora`` command: for the same seeds an ensemble,
a sweep and a series file made from Python are identical to the CLI's; bad input raises the CLI's
one-sentence errors; failed runs are counted and left out; the synchronous API works inside a running
event loop (as in a Jupyter cell); ``import sim`` stays light.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, agora, digest

import sim
from sim.errors import AgoraError, BadFileError, BadParameterError, TargetExistsError
from sim.runs.transport import fork_available

FRAGILE = '''
import numpy as np

from plugins.ic import IndependentCascade
from sim.plugin import Param


class Fragile(IndependentCascade):
    """ic that raises in its first round on about half the session seeds when explode is true."""

    name = "fragile"
    params = {**IndependentCascade.params, "explode": Param(bool, False, help="raise on some seeds")}

    def step(self, ctx):
        first = not getattr(self, "_stepped", False)
        self._stepped = True
        if self.p["explode"] and first and ctx.random_agents(np.zeros(1, dtype=np.int64))[0] < 0.5:
            raise RuntimeError("boom")
        return super().step(ctx)
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("python_api") / "small.db"
    w = sim.new_world(str(path), agents=600, avg_degree=8, seed=5)
    assert (w.agents, w.tick) == (600, 0)
    return path


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("python_api_plugins")
    (folder / "fragile.py").write_text(FRAGILE)
    return folder


def cli_json(cwd: Path, *args: str, code: int = 0) -> dict[str, Any]:
    proc = agora(cwd, *args, "--json")
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


def cli_error(cwd: Path, *args: str) -> str:
    """The one sentence ``agora ARGS`` says on stderr, exiting 2."""
    proc = agora(cwd, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    line = proc.stderr.strip()
    assert line.startswith("agora: error: ") and "\n" not in line, proc.stderr
    return line.removeprefix("agora: error: ")


def comparable(data: Any) -> Any:
    """A report as JSON would carry it, without wall-clock times and with the series file's name only."""
    data = json.loads(json.dumps(data, default=str))

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            out = {k: strip(v) for k, v in x.items() if k != "seconds"}
            if "series_file" in out:
                out["series_file"] = {"name": Path(out["series_file"]["path"]).name, "rows": out["series_file"]["rows"]}
            if "plot" in out:
                out["plot"] = {**out["plot"], "output": Path(out["plot"]["output"]).suffix}
            return out
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(data)


# -- the same numbers as the CLI -------------------------------------------------------------------------
def test_ensemble_and_its_series_file_equal_agora_run(world, tmp_path):
    w = sim.open_world(str(world))
    before = digest(world)
    res = w.ensemble(
        model="sir", params={"beta": 0.05, "gamma": 0.3}, seeds="top:5", runs=4, seed=3, workers=1, text="rumour"
    )
    written = res.write_series(str(tmp_path / "api.csv"))
    drawn = res.plot(str(tmp_path / "api.svg"))
    cli = cli_json(
        tmp_path,
        "run",
        str(world),
        "--inject",
        "rumour",
        "--until-done",
        "--runs",
        "4",
        "--seed",
        "3",
        "--model",
        "sir",
        "--param",
        "beta=0.05",
        "--param",
        "gamma=0.3",
        "--seeds",
        "top:5",
        "--workers",
        "1",
        "--series",
        "cli.csv",
        "--plot",
        "cli.svg",
    )
    assert digest(world) == before  # neither modified the world
    assert comparable(res.to_dict()) == comparable({**cli, "series_file": {**cli["series_file"], "path": "api.csv"}})
    assert (tmp_path / "api.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert written["rows"] == cli["series_file"]["rows"] == len(res.series) > 0
    assert drawn["lines"] == cli["plot"]["lines"] > 0 and (tmp_path / "api.svg").stat().st_size > 0
    # agora plot over the series file, from Python and from the command line.
    mine = sim.plot(str(tmp_path / "api.csv"), str(tmp_path / "mine.png"), measures=["I", "R"])
    theirs = cli_json(tmp_path, "plot", "cli.csv", "-o", "theirs.png", "--measure", "I", "--measure", "R")
    same = ("format", "lines", "measures", "combinations", "runs")
    assert {k: mine[k] for k in same} == {k: theirs[k] for k in same} and mine["measures"] == ["I", "R"]
    with pytest.raises(TargetExistsError):
        sim.plot(str(tmp_path / "api.csv"), str(tmp_path / "mine.png"))
    # The typed fields are the JSON's.
    assert res.mean_reached == cli["mean_reached"] and res.ci95 == cli["ci95"]
    assert (res.completed, res.failed) == (4, 0) and res.first_failure is None
    assert [r.reached for r in res.runs] == [r["reached"] for r in cli["runs"]]
    assert [r.seed for r in res.runs] == [3, 4, 5, 6] and {r.status for r in res.runs} == {"completed"}
    assert res.params == {"beta": 0.05, "gamma": 0.3, "trust_weighted": False, "feed_weight": 1.0, "gamma_stages": 1}
    assert res.runs[0]["exposed"] == cli["runs"][0]["exposed"]


def test_sweep_and_its_series_file_equal_agora_sweep(world, tmp_path):
    w = sim.open_world(str(world))
    res = w.sweep(
        grid={"model": ["ic", "sir"]}, params={"ic.p": 0.1, "sir.beta": 0.08}, runs=3, seeds="top:5", workers=1
    )
    res.write_series(str(tmp_path / "api.csv.gz"))
    res.plot(str(tmp_path / "api.svg"))
    cli = cli_json(
        tmp_path,
        "sweep",
        str(world),
        "--grid",
        "model=ic,sir",
        "--param",
        "ic.p=0.1",
        "--param",
        "sir.beta=0.08",
        "--runs",
        "3",
        "--seeds",
        "top:5",
        "--workers",
        "1",
        "--series",
        "cli.csv.gz",
        "--plot",
        "cli.svg",
    )
    assert comparable(res.to_dict()) == comparable({**cli, "series_file": {**cli["series_file"], "path": "api.csv.gz"}})
    assert res.to_dict()["plot"]["lines"] == cli["plot"]["lines"] > 0
    assert (tmp_path / "api.csv.gz").read_bytes() == (tmp_path / "cli.csv.gz").read_bytes()
    # Typed views of the same numbers; paired() of the first is the JSON's paired difference.
    assert [a.grid for a in res.arms] == [{"model": "ic"}, {"model": "sir"}]
    assert [a.mean_reached for a in res.arms] == [c["mean_reached"] for c in cli["results"]]
    (d,) = res.paired("reached")
    assert (d.mean, d.ci95, d.pairs) == (
        cli["results"][1]["paired"]["reach_diff_mean"],
        cli["results"][1]["paired"]["reach_diff_ci95"],
        3,
    )
    (back,) = res.paired("reached", against=1)
    assert back.mean == -d.mean
    assert res.arm(model="sir") is res.arms[1]
    assert res.series.key_names == ["model"] and set(res.series.columns()["model"].tolist()) == {"ic", "sir"}


def test_a_grid_of_typed_values_is_the_command_lines_grid(world, tmp_path):
    """Floats and bools from Python are read as the same text on the command line would be."""
    w = sim.open_world(str(world))
    res = w.sweep(grid={"p": [0.05, 0.2], "trust_weighted": [False, True]}, runs=2, seeds="top:3", workers=1)
    cli = cli_json(
        tmp_path,
        "sweep",
        str(world),
        "--grid",
        "p=0.05,0.2",
        "--grid",
        "trust_weighted=false,true",
        "--runs",
        "2",
        "--seeds",
        "top:3",
        "--workers",
        "1",
    )
    assert comparable(res.to_dict()) == comparable(cli)
    assert res.grid == {"p": [0.05, 0.2], "trust_weighted": [False, True]}
    lean = w.sweep(grid={"p": [0.05, 0.2]}, runs=2, seeds="top:3", workers=1, series=False)
    assert [a.mean_reached for a in lean.arms] == [c["mean_reached"] for c in cli["results"][::2]]
    with pytest.raises(BadParameterError, match="kept no series"):
        lean.series  # noqa: B018


# -- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, args",
    [
        (
            lambda w: w.ensemble(model="nope", runs=2),
            ("run", "{w}", "--inject", "x", "--until-done", "--runs", "2", "--model", "nope"),
        ),
        (
            lambda w: w.ensemble(params={"p": 2}, runs=2),
            ("run", "{w}", "--inject", "x", "--until-done", "--runs", "2", "--param", "p=2"),
        ),
        (
            lambda w: w.ensemble(seeds="ids:999999", runs=2),
            ("run", "{w}", "--inject", "x", "--until-done", "--runs", "2", "--seeds", "ids:999999"),
        ),
        (lambda w: w.sweep(grid={"nope": [1, 2]}, runs=2), ("sweep", "{w}", "--grid", "nope=1,2", "--runs", "2")),
        (lambda w: w.sweep(grid={"p": []}), ("sweep", "{w}", "--grid", "p=")),
    ],
)
def test_bad_input_raises_the_clis_sentence(world, tmp_path, call, args):
    w = sim.open_world(str(world))
    with pytest.raises(BadParameterError) as err:
        call(w)
    said = cli_error(tmp_path, *(a.format(w=world) for a in args))
    if "lists no values" in said:  # the flag's spelling differs; the sentence says the same
        assert "lists no values" in str(err.value)
    else:
        assert str(err.value) == said


def test_other_mistakes_are_one_sentence(world, tmp_path):
    with pytest.raises(BadFileError, match="missing.db"):
        sim.open_world(str(tmp_path / "missing.db"))
    with pytest.raises(TargetExistsError):
        sim.new_world(str(world), agents=10)
    w = sim.open_world(str(world))
    for bad in (dict(runs=0), dict(runs=True), dict(steps=5, max_ticks=10), dict(workers=0), dict(seed="1")):
        with pytest.raises(BadParameterError) as err:
            w.ensemble(**bad)
        assert "\n" not in str(err.value)
    res = w.ensemble(runs=2, seeds="top:3", workers=1)
    with pytest.raises(BadParameterError, match="reached or peak_tick"):
        w.sweep(grid={"p": [0.1, 0.2]}, runs=2, workers=1).paired("posts")
    res.write_series(str(tmp_path / "s.csv"))
    with pytest.raises(TargetExistsError):
        res.write_series(str(tmp_path / "s.csv"))
    with pytest.raises(BadParameterError, match="unknown extension"):
        res.write_series(str(tmp_path / "s.txt"))
    assert issubclass(BadParameterError, AgoraError) and sim.AgoraError is AgoraError


def test_tables_are_made_only_when_asked(world, monkeypatch):
    res = sim.open_world(str(world)).ensemble(model="sir", runs=2, seeds="top:3", workers=1)
    cols = res.series.columns()
    assert list(cols) == ["run", "tick", "measure", "value"]
    assert set(res.series.measures()) >= {"S", "I", "R", "reached", "new"}
    pa = pytest.importorskip("pyarrow")
    table = res.series.to_arrow()
    assert table.column_names == ["run", "tick", "measure", "value"] and table.num_rows == len(res.series)
    assert isinstance(table, pa.Table) and res.to_arrow().column("reached").to_pylist() == [r.reached for r in res.runs]
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(BadParameterError, match=r"to_pandas\(\) needs pandas: pip install pandas"):
        res.series.to_pandas()
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(BadParameterError, match=r"to_arrow\(\) needs pyarrow"):
        res.series.to_arrow()


def test_to_pandas_is_the_long_format(world):
    pytest.importorskip("pandas")
    res = sim.open_world(str(world)).ensemble(runs=2, seeds="top:3", workers=1)
    frame = res.series.to_pandas()
    assert list(frame.columns) == ["run", "tick", "measure", "value"] and len(frame) == len(res.series)


# -- failed runs ---------------------------------------------------------------------------------------------
def test_failed_runs_are_counted_and_left_out(world, plugin_dir, tmp_path):
    w = sim.open_world(str(world), plugins=[str(plugin_dir)])
    res = w.ensemble(model="fragile", params={"explode": True, "p": 0.2}, seeds="top:3", runs=8, workers=1)
    failed = [r for r in res.runs if r.failed]
    done = [r for r in res.runs if not r.failed]
    assert failed and done and (res.failed, res.completed) == (len(failed), len(done))
    assert all(r.reached is None and r.peak_tick is None and "boom" in r.error for r in failed)
    assert failed[0].where == f"{plugin_dir / 'fragile.py'}:18" and "boom" in failed[0].traceback
    assert res.mean_reached == pytest.approx(sum(r.reached for r in done) / len(done))
    assert res.first_failure.run == failed[0].index and res.first_failure.error == failed[0].error
    assert sorted(set(res.series.columns()["run"].tolist())) == [r.index for r in done]
    cli = cli_json(
        tmp_path,
        "run",
        str(world),
        "--plugins",
        str(plugin_dir),
        "--inject",
        "ensemble",
        "--until-done",
        "--runs",
        "8",
        "--model",
        "fragile",
        "--param",
        "explode=true",
        "--param",
        "p=0.2",
        "--seeds",
        "top:3",
        "--workers",
        "1",
        code=3,
    )
    assert comparable(res.to_dict()) == comparable(cli)


# -- live worlds, and the API inside a running loop ------------------------------------------------------------
def test_live_simulation_steps_injects_and_saves(world, tmp_path):
    path = tmp_path / "live.db"
    path.write_bytes(world.read_bytes())
    with sim.open_world(str(path)).simulation() as live:
        s = live.inject("hello", model="ic", params={"p": 0.2}, seeds=[0, 1, 2])
        assert s["id"] == live.sessions()[0]["id"] and s["model"] == "ic"
        assert live.step(4) == {"tick": 4, "state": "paused"}
        assert live.session(s["id"])["reached"] >= 3 and live.summary()["tick"] == 4
        with pytest.raises(BadParameterError, match="ticks 0 is invalid"):
            live.step(0)
        with pytest.raises(BadParameterError):
            live.inject("x", model="nope")
        queued = live.inject("later", seeds="top:3")
        assert live.cancel(queued["id"])["status"] == "cancelled"
        assert "communities" in live.analyse()["line"] and live.snapshot().tick == 4
        live.save_snapshot("four")
        live.step(2)
        assert live.load_snapshot("four")["tick"] == 4 and live.tick == 4
    assert live.closed and sim.open_world(str(path)).tick == 4  # checkpointed on close
    with pytest.raises(sim.ClosedError):
        live.step(1)


def test_the_sync_api_works_inside_a_running_loop(world, tmp_path):
    """A Jupyter cell runs inside an event loop: the synchronous calls must not need one of their own."""
    path = tmp_path / "loop.db"
    path.write_bytes(world.read_bytes())
    w = sim.open_world(str(path))
    outside = w.ensemble(runs=3, seeds="top:3", workers=1)

    async def cell() -> tuple[Any, ...]:
        inside = w.ensemble(runs=3, seeds="top:3", workers=1)  # called synchronously from inside the loop
        sweep = w.sweep(grid={"p": [0.1]}, runs=2, seeds="top:3", workers=1)
        live = w.simulation()
        live.inject("hi", seeds="top:3")
        first = live.step(2)
        second = await live.astep(3)  # the awaitable variant, for code already in a loop
        tick = live.tick
        assert await live.aclose() is True
        return inside, sweep, first, second, tick

    inside, sweep, first, second, tick = asyncio.run(cell())
    assert comparable(inside.to_dict()) == comparable(outside.to_dict())
    assert sweep.arms[0].completed == 2
    assert (first["tick"], second["tick"], tick) == (2, 5, 5)
    assert sim.open_world(str(path)).tick == 5
    assert not [t for t in threading.enumerate() if t.name.startswith("agora-l")]  # no loop thread left behind


def test_an_unclosed_simulation_is_checkpointed_at_exit(world, tmp_path):
    path = tmp_path / "exit.db"
    path.write_bytes(world.read_bytes())
    code = (
        f"import sim\nlive = sim.open_world({str(path)!r}).simulation(checkpoint_every=0)\n"
        "live.inject('x', seeds='top:3')\nlive.step(3)\nlive.run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sim.open_world(str(path)).tick >= 3


@pytest.mark.parametrize("forked", [True, False])
def test_a_script_that_sweeps_in_parallel_unguarded_is_told_why(tmp_path, forked):
    """Spawned sweep workers (macOS, Windows) start by importing the main script again: an unguarded script is
    told to guard itself. Forked workers (Linux) import nothing again: the same script sweeps."""
    if forked and not fork_available():
        pytest.skip("forked workers are Linux's")
    script = tmp_path / "unguarded.py"
    spawn = "" if forked else "import sim.runs.sweep as s\ns.fork_available = lambda: False\n"
    script.write_text(
        f"import sim\n{spawn}w = sim.new_world('w.db', agents=200, seed=1, force=True)\n"
        "sw = w.sweep(grid={'p': [0.05, 0.1]}, runs=2, seeds='top:3', workers=2)\nprint(sw.completed)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    if forked:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["4"]  # 2 runs of 2 combinations
        return
    assert proc.returncode != 0
    assert "put its code under 'if __name__ == \"__main__\":' (or sweep with workers=1)" in proc.stderr


def test_import_sim_is_light():
    code = (
        "import sys, sim\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'textual', 'tui', 'aiosqlite') or m.startswith('sim.')))\n"
        "sim.open_world\nprint('textual' in sys.modules, 'sim.lab.world' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["[]", "False True"]
    assert "open_world" in dir(sim) and "Simulation" in sim.__all__
    with pytest.raises(AttributeError):
        sim.no_such_name  # noqa: B018


def test_a_sweep_table_has_one_row_per_combination_when_the_model_is_swept(world):
    res = sim.open_world(str(world)).sweep(
        grid={"model": ["ic", "sir"]}, params={"ic.p": 0.05}, runs=2, seeds="top:3", workers=1, series=False
    )
    table = res.to_arrow()
    assert table.num_rows == 2 and table.column("model").to_pylist() == ["ic", "sir"]
    assert table.column("completed").to_pylist() == [a.completed for a in res.arms]
    pytest.importorskip("pandas")
    frame = res.to_pandas()
    assert list(frame["model"]) == ["ic", "sir"] and list(frame["mean_reached"]) == [a.mean_reached for a in res.arms]


def test_a_pathlib_path_names_a_world(tmp_path):
    """new_world and open_world take a pathlib.Path as they take a string (a Path raised TypeError in new_world)."""
    path = tmp_path / "p.db"
    made = sim.new_world(path, agents=50, seed=3)
    again = sim.open_world(path)
    assert made.path == again.path == str(path) and again.agents == 50
