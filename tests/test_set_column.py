"""``agora set WORLD COLUMN FILE`` and ``PUT /api/v1/columns/{name}``: per-agent columns from data, and
``--seeds none``, so that a run starts exactly from the data (issue 34, "initial states from data").

The world has original ids that are not its indices (an imported edge list), and the files list the agents
shuffled: the values must land on the right agents. Bad input is one sentence, exit 2, and the world file
keeps every byte."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import digest
from test_api import VIEWER, Server

from sim.cli.main import main
from sim.errors import BadParameterError
from sim.model.columns import FILE_SLACK, initial_variables, settable_columns, variable_column
from sim.model.registry import Registry
from sim.model.seeds import SeedSpec
from sim.plugin import PropagationModel, Variable
from sim.store.check import check_world
from sim.store.worldfile import checkpoint_world, open_world

AGENTS = 240


def agora(capsys, *args: object) -> tuple[int, str, str]:
    """``agora ARGS`` in this process (much faster than a subprocess): exit code, stdout, stderr."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def refused(capsys, *args: object) -> str:
    """The one sentence of a refused command (exit 2, no traceback)."""
    code, out, err = agora(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("agora: error: "), (code, out, err)
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A world of AGENTS agents whose original ids are 1000, 1007, 1014, ... (a ring and random chords)."""
    folder = tmp_path_factory.mktemp("setcol")
    ids = 1000 + 7 * np.arange(AGENTS)
    rng = np.random.default_rng(3)
    a = np.concatenate([np.arange(AGENTS), rng.integers(0, AGENTS, 4 * AGENTS)])
    b = np.concatenate([(np.arange(AGENTS) + 1) % AGENTS, rng.integers(0, AGENTS, 4 * AGENTS)])
    keep = a != b
    rows = [f"{ids[x]},{ids[y]}" for x, y in zip(a[keep].tolist(), b[keep].tolist())]
    rows += [f"{ids[y]},{ids[x]}" for x, y in zip(a[keep].tolist(), b[keep].tolist())]
    (folder / "edges.csv").write_text("source,target\n" + "\n".join(rows) + "\n")
    code = main(["new", str(folder / "w.db"), "--edges", str(folder / "edges.csv"), "--seed", "4"])
    assert code == 0
    return folder / "w.db"


@pytest.fixture
def world(template, tmp_path) -> Path:
    path = tmp_path / "w.db"
    path.write_bytes(template.read_bytes())
    return path


def write_csv(path: Path, ids, values, *, header: str | None = "id,opinion", shuffle: int | None = 1) -> Path:
    """A CSV of ``id,value`` rows (values as ``repr``, exact), in a shuffled order, with blank lines."""
    ids, values = np.asarray(ids), np.asarray(values, dtype=np.float64)
    order = np.random.default_rng(shuffle).permutation(ids.size) if shuffle is not None else np.arange(ids.size)
    rows = [f"{int(i)},{float(v)!r}" for i, v in zip(ids[order].tolist(), values[order].tolist())]
    rows.insert(len(rows) // 2, "")  # a blank line and one of spaces are ignored
    rows.insert(len(rows) // 3, "   ")
    path.write_text(("" if header is None else header + "\r\n") + "\n".join(rows) + "\n")
    return path


def world_ids() -> np.ndarray:
    return 1000 + 7 * np.arange(AGENTS)


def survey(seed: int = 0) -> np.ndarray:
    """Opinions in agent order, with both ends of the range among them."""
    v = np.random.default_rng(seed).random(AGENTS)
    v[3], v[17] = 0.0, 1.0
    return v


# -- the happy path --------------------------------------------------------------------------------------


def test_set_then_a_run_with_seeds_none_starts_exactly_from_the_file(world, tmp_path, capsys):
    values = survey()
    csv = write_csv(tmp_path / "survey.csv", world_ids(), values)
    code, out, _ = agora(capsys, "set", world, "opinion", csv, "--json")
    assert code == 0
    said = json.loads(out)
    assert said["column"] == "opinion" and said["kind"] == "data" and said["agents"] == AGENTS
    assert "deffuant" in said["models"] and said["mean"] == values.mean()
    assert said["sha256"] == hashlib.sha256(values.astype("<f8").tobytes()).hexdigest()
    # The audit log says what was set, and from which file.
    (row,) = [r for r in json.loads(agora(capsys, "audit", world, "--json")[1])["entries"] if r["action"] == "set"]
    assert row["details"]["file"] == str(csv) and row["details"]["sha256"] == said["sha256"]
    # The world file holds it, checked.
    report = check_world(str(world))
    assert report["ok"], report["problems"]
    assert report["checks"]["data_columns"] == ["opinion"]

    # One tick: the session seeds in it and runs no round, so its opinions are its starting ones.
    code, _, _ = agora(capsys, "run", world, "--steps", "1", "--inject", "x", "--model", "deffuant", "--seeds", "none")
    assert code == 0
    w = asyncio.run(open_world(str(world)))
    (session,) = w.sessions
    assert session.seeds == "none" and session.seeds_count == 0
    assert np.array_equal(session.variables["opinion"], values)  # every agent, no seed pinned at 1.0
    counts = session.series.counts[0]
    assert counts[1] == np.count_nonzero(values >= 0.5) and counts[0] == np.count_nonzero(values < 0.5)
    mean, std, lo, hi = session.series.moments[0]
    assert (mean, std, lo, hi) == (values.mean(), values.std(), 0.0, 1.0)

    # Ensembles (forks that share the world's columns) start from it too, every run.
    code, out, _ = agora(
        capsys, "run", world, "--steps", "3", "--inject", "x", "--model", "hegselmann-krause", "--seeds", "none",
        "--runs", "2", "--json",
    )  # fmt: skip
    assert code == 0
    for run in json.loads(out)["runs"]:
        assert run["seeds"] == 0 and run["series"]["opinion.mean"][0] == values.mean()
        assert run["series"]["opinion.min"][0] == 0.0 and run["series"]["opinion.max"][0] == 1.0


def test_a_header_is_optional_and_fields_may_be_quoted(world, tmp_path, capsys):
    values = survey(1)
    ids = world_ids()
    lines = [f'"{i}",{v!r}' if i % 2 else f' {i} ,"{v!r}"' for i, v in zip(ids.tolist(), values.tolist())]
    path = tmp_path / "s.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode())  # a byte-order mark, no header
    assert agora(capsys, "set", world, "opinion", path)[0] == 0
    assert np.array_equal(asyncio.run(open_world(str(world))).columns["opinion"], values)
    # blank lines before a header, Windows line ends
    path.write_bytes(b"\r\n  \n" + "\r\n".join(["agent,opinion", *lines]).encode())
    assert agora(capsys, "set", world, "opinion", path)[0] == 0


def test_a_built_in_column_is_set_as_float32_and_its_rows_follow(world, tmp_path, capsys):
    values = survey(2)
    csv = write_csv(tmp_path / "s.csv", world_ids(), values, header="agent,susceptibility")
    code, out, _ = agora(capsys, "set", world, "susceptibility", csv)
    assert code == 0 and "susceptibility set for 240 agents" in out
    w = asyncio.run(open_world(str(world)))
    assert w.columns["susceptibility"].dtype == np.float32
    assert np.array_equal(w.columns["susceptibility"], values.astype(np.float32))
    assert [k for k in w.columns if k == "opinion"] == []
    with sqlite3.connect(world) as con:
        rows = np.array(con.execute("SELECT susceptibility FROM agent_rows ORDER BY id").fetchall())[:, 0]
    assert np.allclose(rows, values, atol=1e-6)  # the SQL mirror follows
    assert check_world(str(world))["ok"]


def test_the_column_survives_a_snapshot_and_clear_removes_it(world, tmp_path, capsys):
    values = survey(3)
    agora(capsys, "set", world, "opinion", write_csv(tmp_path / "s.csv", world_ids(), values))
    snap, back = tmp_path / "s.snap", tmp_path / "back.db"
    assert agora(capsys, "save", world, snap)[0] == 0
    assert agora(capsys, "check", snap, "--json")[0] == 0
    assert agora(capsys, "load", snap, back)[0] == 0
    assert np.array_equal(asyncio.run(open_world(str(back))).columns["opinion"], values)
    assert check_world(str(back))["checks"]["data_columns"] == ["opinion"]
    code, out, _ = agora(capsys, "set", back, "opinion", "--clear")
    assert code == 0 and "removed" in out
    assert "opinion" not in asyncio.run(open_world(str(back))).columns
    report = check_world(str(back))
    assert report["ok"] and report["checks"]["data_columns"] == []
    assert "no data column 'opinion'" in refused(capsys, "set", back, "opinion", "--clear")
    assert "built in" in refused(capsys, "set", back, "susceptibility", "--clear")


# -- bad input: one sentence, exit 2, the world file unchanged --------------------------------------------


def _bad_files(tmp_path: Path) -> list[tuple[str, object, str]]:
    """(name, file, what the sentence says) for every way a file can be wrong."""
    ids, values = world_ids(), survey(4)
    out: list[tuple[str, object, str]] = []

    def csv(name: str, ids_, values_, shuffle: int | None = 1) -> Path:
        return write_csv(tmp_path / f"{name}.csv", ids_, values_, shuffle=shuffle)

    unknown = csv("unknown", np.r_[ids[:9], 5, ids[9:], 6, 5], np.r_[values[:9], 0.1, values[9:], 0.2, 0.3], None)
    out.append(("unknown", unknown, "names agent id 5, which this world does not have (2 unknown ids in all)"))
    out.append(("missing", csv("missing", ids[:-3], values[:-3]), "leaves out 3 of the world's 240 agents"))
    out.append(("twice", csv("twice", np.r_[ids, ids[9]], np.r_[values, 0.5]), f"gives agent {ids[9]} more than one"))
    high = values.copy()
    high[[5, 8]] = [1.5, 2.0]
    out.append(("range", csv("range", ids, high, None), f"agent {ids[5]} the opinion 1.5, which lies outside [0, 1]"))
    nan = values.copy()
    nan[7] = np.nan
    out.append(("nan", csv("nan", ids, nan), "the opinion nan, which is not a finite number (1 of the 240 values"))
    (tmp_path / "word.csv").write_text(f"id,value\n{ids[0]},0.5\n{ids[1]},high\n")
    out.append(("word", tmp_path / "word.csv", "line 3: its second field is not a number"))
    (tmp_path / "fields.csv").write_text(f"{ids[0]},0.5\n{ids[1]};0.5\n")
    out.append(("fields", tmp_path / "fields.csv", "line 2 has 1 fields, expected 2"))
    (tmp_path / "float_id.csv").write_text(f"{ids[0]},0.5\n1.5,0.5\n")
    out.append(("float id", tmp_path / "float_id.csv", "line 2: its first field is not an agent id"))
    (tmp_path / "empty.csv").write_text("id,value\n\n")
    out.append(("empty", tmp_path / "empty.csv", "lists no agents"))
    (tmp_path / "latin1.csv").write_bytes(f"{ids[0]},0.5\n{ids[1]},0.5 \xe9\n".encode("latin-1"))
    out.append(("not utf-8", tmp_path / "latin1.csv", "is not UTF-8 text"))
    big = tmp_path / "big.csv"
    with open(big, "wb") as fh:
        fh.truncate(FILE_SLACK + 128 * AGENTS + 1)
    out.append(("too large", big, "128 an agent of this world's 240"))
    out.append(("folder", tmp_path, "cannot be read (Is a directory)"))
    out.append(("absent", tmp_path / "absent.csv", "cannot be read (No such file or directory)"))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        out.append(("fifo", tmp_path / "fifo", "is not a regular file"))
    return out


def test_every_bad_input_is_one_sentence_and_leaves_the_world_untouched(world, tmp_path, capsys):
    before = digest(world)
    started = time.monotonic()
    for name, path, needle in _bad_files(tmp_path):
        sentence = refused(capsys, "set", world, "opinion", path)
        assert needle in sentence, (name, sentence)
        assert "high" not in sentence and "1.5,0.5" not in sentence  # a file's content is never echoed
        assert digest(world) == before, name
    assert time.monotonic() - started < 30  # a FIFO never holds the reader
    for column, why in (("ids", "Agora derives it"), ("community", "Agora derives it"), ("mood", "no loaded model")):
        sentence = refused(capsys, "set", world, column, tmp_path / "missing.csv")
        assert why in sentence and "may be set are susceptibility, reputation, influence, activity_rate" in sentence
        assert "opinion" in sentence
    assert "FILE" in refused(capsys, "set", world, "opinion")
    assert "one or the other" in refused(capsys, "set", world, "opinion", tmp_path / "missing.csv", "--clear")
    assert "does not exist" in refused(capsys, "set", tmp_path / "none.db", "opinion", tmp_path / "missing.csv")
    assert digest(world) == before
    rows = json.loads(agora(capsys, "audit", world, "--json")[1])["entries"]
    assert not [r for r in rows if r["action"] == "set"]


def test_a_damaged_data_column_is_refused_on_open_and_reported_by_check(world, tmp_path):
    async def damage() -> None:
        import aiosqlite

        w = await open_world(str(world))
        w.columns["opinion"] = np.full(w.n, np.nan)
        w.dirty_arrays.add("agent.opinion")
        db = await aiosqlite.connect(str(world))
        try:
            await checkpoint_world(db, w, changed_sessions=[])
        finally:
            await db.close()

    asyncio.run(damage())
    report = check_world(str(world))
    assert not report["ok"] and "data column opinion holds a value that is not a finite number" in report["problems"][0]
    with pytest.raises(Exception, match="not a finite number"):
        asyncio.run(open_world(str(world)))


# -- --seeds none, and variables that name no world column -------------------------------------------------


def test_seeds_none_is_no_seed():
    spec = SeedSpec.parse(" None ")
    assert spec.kind == "none" and str(spec) == "none"
    assert SeedSpec.parse(str(spec)) == spec
    for bad in ("none:3", "none:", "nothing"):
        with pytest.raises(BadParameterError):
            SeedSpec.parse(bad)


def test_seeds_none_leaves_a_cascade_with_nobody_to_start_it(world, capsys):
    code, out, _ = agora(
        capsys, "run", world, "--until-done", "--inject", "x", "--model", "sir", "--seeds", "none", "--json"
    )
    assert code == 0
    (run,) = json.loads(out)["runs"]
    assert run["reached"] == 0 and run["seeds"] == 0 and run["session_status"] == "completed"


class _Trait(PropagationModel):
    """A model whose variable names no world column: it starts from a data column of its own name."""

    name = "trait-test"
    variables = {"trait": Variable(-2.0, 2.0, init="constant", value=0.0, seed_value=2.0)}

    def step(self, ctx):  # pragma: no cover - never stepped here
        raise NotImplementedError


def test_a_variable_without_a_world_column_starts_from_its_own_data_column(small_world):
    registry = Registry(entry_points=False, env=False)
    registry.register(_Trait)
    columns = settable_columns(registry)
    assert columns["trait"].min == -2.0 and columns["trait"].max == 2.0 and columns["trait"].models == ("trait-test",)
    assert columns["opinion"].models[:1] == ("algorithmic-bias",) and not columns["opinion"].builtin
    assert variable_column("trait", _Trait.variables["trait"]) == "trait"
    assert variable_column("susceptibility", Variable()) is None  # a built-in's name: its own column only
    rng = np.random.default_rng(0)
    none = np.empty(0, dtype=np.int32)
    assert np.all(initial_variables(_Trait, small_world, rng, none)["trait"] == 0.0)  # no column: its init
    small_world.columns["trait"] = np.linspace(-2.0, 2.0, small_world.n)
    assert np.array_equal(initial_variables(_Trait, small_world, rng, none)["trait"], small_world.columns["trait"])
    pinned = initial_variables(_Trait, small_world, rng, np.array([4], dtype=np.int32))["trait"]
    assert pinned[4] == 2.0  # a seed still gets seed_value: --seeds none is what leaves the data alone


# -- the HTTP API ----------------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_put_column_over_the_api(world, tmp_path):
    server = Server(tmp_path, world.name)
    try:
        ids, values = world_ids(), survey(5)
        order = np.random.default_rng(9).permutation(AGENTS)
        body = {"ids": ids[order].tolist(), "values": values[order].tolist()}

        status, listed, _ = server.call("GET", "/api/v1/columns", token=VIEWER)
        assert status == 200
        by_name = {c["name"]: c for c in listed["columns"]}
        assert by_name["opinion"]["set"] is False and by_name["susceptibility"]["kind"] == "built-in"
        assert by_name["opinion"]["min"] == 0.0 and by_name["opinion"]["max"] == 1.0

        # 4xx, one sentence each, nothing changed
        def refused_call(method: str, path: str, payload: object, code: int, needle: str, **kw: object) -> None:
            status, answer, _ = server.call(method, path, payload, **kw)
            assert status == code and needle in answer["error"], (path, payload, status, answer)

        put = "/api/v1/columns/opinion"
        refused_call("PUT", put, body, 403, "may only read", token=VIEWER)
        refused_call("PUT", put, body, 401, "bearer token", token=None)
        refused_call("PUT", "/api/v1/columns/ids", body, 404, "may be set are susceptibility")
        refused_call("PUT", "/api/v1/columns/mood", body, 404, "no loaded model starts a variable from it")
        refused_call("PUT", put, None, 400, "the body is empty")
        refused_call("PUT", put, {"ids": body["ids"]}, 400, "the body has no 'values'")
        refused_call("PUT", put, {**body, "rows": []}, 400, "unknown field 'rows'")
        refused_call("PUT", put, {"ids": body["ids"][:-1], "values": body["values"][:-1]}, 400, "leaves out 1 of")
        refused_call("PUT", put, {"ids": body["ids"], "values": body["values"][:-1]}, 400, "give one value for every")
        refused_call("PUT", put, {"ids": [*body["ids"], 3], "values": [*body["values"], 0.5]}, 400, "agent id 3")
        refused_call("PUT", put, {"ids": body["ids"], "values": [2.0, *body["values"][1:]]}, 400, "outside [0, 1]")
        refused_call("PUT", put, {"ids": body["ids"], "values": ["0.5", *body["values"][1:]]}, 400, "list of numbers")
        refused_call("PUT", put, {"ids": [1.5, *body["ids"][1:]], "values": body["values"]}, 400, "whole numbers")
        refused_call("PUT", put, {"ids": [True] * AGENTS, "values": body["values"]}, 400, "whole numbers")
        refused_call("PUT", put, {"ids": "all", "values": body["values"]}, 400, "must be a list")
        refused_call("PUT", put, body, 400, "more than the", headers={"Content-Length": str(65 * 2**20)}, raw=b"{}")
        refused_call("DELETE", put, None, 404, "no data column 'opinion'")
        assert server.call("GET", "/api/v1/columns")[1]["columns"] == listed["columns"]

        status, said, _ = server.call("PUT", put, body)
        assert status == 200 and said["agents"] == AGENTS and said["mean"] == values.mean()
        assert said["sha256"] == hashlib.sha256(values.astype("<f8").tobytes()).hexdigest()
        assert {c["name"]: c["set"] for c in server.call("GET", "/api/v1/columns")[1]["columns"]}["opinion"]

        status, made, _ = server.call("POST", "/api/v1/messages", {"text": "x", "model": "deffuant", "seeds": "none"})
        assert status == 201, made
        assert server.call("POST", "/api/v1/step", {"ticks": 2})[0] == 200
        status, session, _ = server.call("GET", f"/api/v1/sessions/{made['session']}")
        assert session["series"]["opinion.mean"][0] == values.mean()
        assert session["series"]["opinion.min"][0] == values.min() and session["series"]["opinion.max"][0] == 1.0

        status, cleared, _ = server.call("DELETE", put)
        assert status == 200 and cleared == {"column": "opinion", "cleared": True}
    finally:
        assert server.stop() == 0
    with sqlite3.connect(world) as con:
        rows = [json.loads(d) for (d,) in con.execute("SELECT details FROM audit WHERE action = 'set' ORDER BY id")]
    assert [r.get("cleared", False) for r in rows] == [False, True] and all(r["by"] == "admin" for r in rows)
    assert rows[0]["sha256"] == said["sha256"]
    assert "opinion" not in asyncio.run(open_world(str(world))).columns
