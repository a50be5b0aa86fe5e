"""Nothing lost (issue 45): a served world killed by SIGKILL around its checkpoints, under injecting clients.

The scenario the probe found: concurrent clients inject into ``agora serve`` while it runs and checkpoints
every few ticks; the server is killed (``kill -9``) before, during or after a checkpoint's commit, or in the
middle of a group commit of acknowledged injections. Before the fix the file then failed ``agora check``
(sessions rows the metadata did not hold, written by a checkpoint that read the live world while clients
changed it) and most injections answered 201 were gone.

Every time now: the file opens and passes ``agora check``; once a writer opened it again, every injection
answered 2xx is in the world with the id it was answered with and its text, and no id was answered twice.
The instant of each kill is random (a named point in the persistence code, reached the N-th time, or a
random delay); ``AGORA_DURABLE_SEED`` repeats a sequence, ``AGORA_DURABLE_KILLS`` changes their number.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import agora
from test_api import ADMIN, WAIT, Server

from sim.core import worldkey
from sim.store.check import check_world
from sim.store.worldfile import read_meta

SEED = int(os.environ.get("AGORA_DURABLE_SEED", "4545"))
KILLS = int(os.environ.get("AGORA_DURABLE_KILLS", "20"))
CLIENTS = 12
#: Where a kill lands: before a checkpoint is written, inside its transaction, right after its commit, inside
#: a group commit of acknowledged injections, or after a random delay (wherever the server is).
POINTS = ("checkpoint-taken", "checkpoint", "checkpointed", "journal", "delay")


def _client(port: int, name: str, stop: threading.Event, acked: list, errors: list) -> None:
    """Inject messages (and read the world now and then) until the server dies; record every 201."""
    i = 0
    while not stop.is_set():
        i += 1
        text = f"{name}-{i}"
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        try:
            if i % 10 == 0:
                con.request("GET", "/api/v1/world", headers={"Authorization": f"Bearer {ADMIN}"})
                con.getresponse().read()
                continue
            body = json.dumps({"text": text, "seeds": "random:3", "params": {"p": 0.05}})
            con.request(
                "POST",
                "/api/v1/messages",
                body=body,
                headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
            )
            resp = con.getresponse()
            data = resp.read()
            if resp.status == 201:
                answer = json.loads(data)
                acked.append((answer["message"], answer["session"], text))
            elif resp.status not in (409, 503):
                errors.append((resp.status, data[:300]))
        except (OSError, http.client.HTTPException):
            return  # the server is gone
        finally:
            con.close()


def _present(path: str) -> dict[int, str]:
    """The messages of the world's last checkpoint: id -> text."""
    return {int(m["id"]): m["text"] for m in read_meta(path)["messages"]}


@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize("encrypted", [False, True], ids=["clear", "encrypted"])
def test_every_acknowledged_injection_survives_a_kill_around_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypted: bool
) -> None:
    """The same on an encrypted world (issue 50): SQLCipher's WAL, killed around the same points (half the
    kills: every point is still met twice)."""
    _kill_loop(tmp_path, monkeypatch, encrypted, max(len(POINTS) * 2, KILLS // 2) if encrypted else KILLS)


@pytest.mark.subprocess
def test_an_acknowledged_injection_survives_one_kill_at_each_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast twin of the test above (``make test-fast``): one kill at each point, on a clear world, with
    the same checks after each kill and at the end."""
    _kill_loop(tmp_path, monkeypatch, False, len(POINTS))


def _kill_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypted: bool, kills: int) -> None:
    """``kills`` servers killed (at POINTS in turn), each after injections from CLIENTS clients; checked after
    each kill and at the end."""
    rng = random.Random(SEED)
    print(f"AGORA_DURABLE_SEED={SEED}")
    world = str(tmp_path / "served.db")
    if encrypted:
        monkeypatch.setenv(worldkey.KEY_ENV, "durable encrypted world")  # the servers and commands inherit it
    done = agora(tmp_path, "new", world, "--agents", "5000", "--seed", "3", *(["--encrypt"] if encrypted else []))
    assert done.returncode == 0, done.stderr
    assert worldkey.is_encrypted(world) == encrypted
    answered: dict[int, str] = {}  # message id -> text, over every run
    sessions: set[int] = set()
    for k in range(kills):
        point = POINTS[k % len(POINTS)]
        env = {} if point == "delay" else {"AGORA_KILL_AT": f"{point}:{rng.randint(1, 4)}"}
        server = Server(tmp_path, world, "--checkpoint-every", "3", env=env)
        stop = threading.Event()
        acked: list = []
        errors: list = []
        try:
            status, _, _ = server.call("POST", "/api/v1/run", {"ticks_per_second": 20})
            assert status == 200, server.errors()
            threads = [
                threading.Thread(target=_client, args=(server.port, f"k{k}c{c}", stop, acked, errors), daemon=True)
                for c in range(CLIENTS)
            ]
            for t in threads:
                t.start()
            if point == "delay":
                time.sleep(rng.uniform(0.3, 2.0))  # the instant of an outside kill -9: random on purpose
                server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=120)  # a named point kills the server itself
            stop.set()
            for t in threads:
                t.join(timeout=WAIT)
        finally:
            stop.set()
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()
            server.stderr.close()
        assert server.proc.returncode == -signal.SIGKILL, f"run {k} ({point}): {server.errors()}"
        assert not errors, f"run {k} ({point}): unexpected answers {errors[:3]}"
        # As the crash left it: the file opens and passes check.
        report = check_world(world)
        assert report["ok"], f"run {k} ({point}): {report['problems']}"
        for mid, sid, text in acked:
            assert mid not in answered, f"run {k} ({point}): message id {mid} was answered twice"
            assert sid not in sessions, f"run {k} ({point}): session id {sid} was answered twice"
            answered[mid] = text
            sessions.add(sid)
        # A writer opens it (recovery), and every acknowledged injection is there, with its id and text.
        done = agora(tmp_path, "run", world, "--steps", "1")
        assert done.returncode == 0, done.stderr
        assert check_world(world)["ok"]
        present = _present(world)
        lost = {m: t for m, t in answered.items() if present.get(m) != t}
        assert not lost, f"run {k} ({point}): {len(lost)} of {len(answered)} acknowledged injections lost"
    assert len(answered) > kills, "too few injections were answered to test anything"
    assert worldkey.is_encrypted(world) == encrypted, "the crashes and recoveries kept the file as it was"
    con = worldkey.connect(world)
    recovered = con.execute("SELECT COUNT(*) FROM audit WHERE action = 'recover'").fetchone()[0]
    injects = con.execute("SELECT details FROM audit WHERE action = 'inject'").fetchall()
    con.close()
    assert recovered > 0
    # The audit log agrees with the world: every audited injection is in it, each session audited once.
    audited = [json.loads(d)["session"] for (d,) in injects]
    assert len(audited) == len(set(audited)), "a session id was audited for two injections"
    in_world = {int(s["id"]) for s in read_meta(world)["sessions"]}
    missing = sorted(set(audited) - in_world)
    assert not missing, f"audited injections missing from the world: {missing[:10]}"
    assert sessions <= set(audited)


async def test_a_reader_sees_one_checkpoint_while_a_writer_commits_the_next(tmp_path: Path, monkeypatch) -> None:
    """``agora check`` and ``open_world`` on a live file read the metadata and the arrays of one checkpoint.

    A checkpoint is committed (by another connection, as by a server) right between the reader's look at the
    arrays' sizes and its read of their bytes; before the fix the reader then met a session array of another
    size than it had planned for (``ValueError: memoryview assignment``, a traceback from ``agora check``).
    """
    from sim.engine.simulation import Simulation
    from sim.store import worldfile, worldread
    from sim.store.create import synthetic_world
    from sim.store.writer import WorldWriter

    path = str(tmp_path / "live.db")
    await worldfile.save_world(synthetic_world("live", 400, avg_degree=6, seed=2), path)
    writer = await WorldWriter(path).start()
    sim = Simulation(await worldfile.open_world(path), writer=writer)
    sim.inject("a rumour", seeds="random:5")
    for _ in range(3):
        await sim.step()
    await sim.checkpoint()
    await writer.close()
    before = sim.world.tick
    real = worldread.ensure_memory

    def commit_meanwhile(*args, **kwargs):
        # Another writer's checkpoint lands now: a later tick, and a session array of another size.
        con = sqlite3.connect(path)
        with con:
            con.execute("UPDATE meta SET value = ? WHERE key = 'tick'", (json.dumps(before + 7),))
            (data,) = con.execute("SELECT data FROM arrays WHERE name = 'session.1.state'").fetchone()
            con.execute(
                "UPDATE arrays SET data = ?, shape = ? WHERE name = 'session.1.state'",
                (bytes(data) * 2, json.dumps([len(data) * 2])),
            )
        con.close()
        return real(*args, **kwargs)

    monkeypatch.setattr(worldread, "ensure_memory", commit_meanwhile)  # the reader of world files
    world = await worldfile.open_world(path)  # read while "the next checkpoint" commits
    assert world.tick == before, "the metadata and the arrays came from one checkpoint"
    assert world.sessions[0].state.size == world.n
