"""The single SQLite writer of a running world.

One task owns the world file's connection (aiosqlite, WAL); nothing else writes while a simulation
runs. Adoption events are queued by the simulation and committed in batches; checkpoints bring the
metadata, the session arrays and the message and session tables up to date in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiosqlite
import numpy as np

from .store import checkpoint_world, ensure_schema


_ROWS = ("events", "exposures")


class WorldWriter:
    """Batches writes to one world file from a background task."""

    def __init__(self, path: str, *, batch_rows: int = 200_000) -> None:
        self.path = path
        self.batch_rows = batch_rows
        self.queue_rows = 0  # adoption rows waiting to be written (the "database write queue")
        self.rows_written = 0
        self.error: BaseException | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._db: aiosqlite.Connection | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> "WorldWriter":
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode = WAL")
        await self._db.execute("PRAGMA synchronous = NORMAL")
        await self._db.execute("PRAGMA busy_timeout = 5000")
        await ensure_schema(self._db)
        self._task = asyncio.create_task(self._run(), name="agora-world-writer")
        return self

    def submit_events(self, session_id: int, records: np.ndarray) -> None:
        """Queue adoption records (``tick, agent, source, kind``) of one session."""
        self.queue_rows += len(records)
        self._queue.put_nowait(("events", session_id, records))

    def submit_exposures(self, session_id: int, records: np.ndarray, recommender: str) -> None:
        """Queue first feed exposures (``tick, agent, source``) of one session, from ``recommender``."""
        self.queue_rows += len(records)
        self._queue.put_nowait(("exposures", session_id, records, recommender))

    def submit_audit(self, action: str, details: dict[str, Any]) -> None:
        """Append a user action to the world's audit log (after everything queued before it)."""
        self._queue.put_nowait(("audit", action, details))

    async def call(self, fn: Any) -> Any:
        """Run ``await fn(connection)`` on the writer's connection, in order with everything queued."""
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(("call", fn, done))
        return await done

    async def checkpoint(self, world: Any, changed_sessions: list | None = None) -> None:
        """Write the world's state (after every queued event) and wait until it is committed."""
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(("checkpoint", world, changed_sessions, done))
        await done

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self._queue.join()

    async def _run(self) -> None:
        assert self._db is not None
        while True:
            item = await self._queue.get()
            items = [item]
            rows = len(item[2]) if item[0] in _ROWS else 0
            while rows < self.batch_rows and not self._queue.empty() and items[-1][0] in _ROWS:
                nxt = self._queue.get_nowait()
                items.append(nxt)
                if nxt[0] in _ROWS:
                    rows += len(nxt[2])
            try:
                await self._write(items)
            except BaseException as exc:  # keep the task alive; report through .error
                self.error = exc
                for it in items:
                    fut = it[3] if it[0] == "checkpoint" else (it[2] if it[0] == "call" else None)
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _write(self, items: list) -> None:
        db = self._db
        assert db is not None
        events = [it for it in items if it[0] in _ROWS]
        if events:
            await db.execute("BEGIN")
            for it in events:
                sid, rec = it[1], it[2]
                if it[0] == "events":
                    rows = np.empty(len(rec), dtype=[("s", "<i8"), ("t", "<i8"), ("a", "<i8"), ("src", "<i8"), ("k", "<i8"), ("v", "<i8")])
                    rows["s"] = sid
                    rows["t"], rows["a"], rows["src"], rows["k"] = rec["tick"], rec["agent"], rec["source"], rec["kind"]
                    rows["v"] = rec["via"] if "via" in (rec.dtype.names or ()) else 0
                    await db.executemany("INSERT INTO events (session_id, tick, agent, source, kind, via) VALUES (?, ?, ?, ?, ?, ?)", rows.tolist())
                else:
                    rows = np.empty(len(rec), dtype=[("s", "<i8"), ("t", "<i8"), ("a", "<i8"), ("src", "<i8")])
                    rows["s"] = sid
                    rows["t"], rows["a"], rows["src"] = rec["tick"], rec["agent"], rec["source"]
                    name = it[3]
                    await db.executemany("INSERT INTO exposures (session_id, tick, agent, source, recommender) VALUES (?, ?, ?, ?, ?)",
                                         [(*r, name) for r in rows.tolist()])
            await db.commit()
            n = sum(len(it[2]) for it in events)
            self.queue_rows -= n
            self.rows_written += n
        for it in items:
            if it[0] == "audit":
                await db.execute("INSERT INTO audit (ts, action, details) VALUES (?, ?, ?)",
                                 (time.time(), it[1], json.dumps(it[2], default=str)))
                await db.commit()
            elif it[0] == "call":
                _, fn, done = it
                try:
                    result = await fn(db)
                except BaseException as exc:
                    if not done.done():
                        done.set_exception(exc)
                else:
                    if not done.done():
                        done.set_result(result)
            elif it[0] == "checkpoint":
                _, world, changed, done = it
                await checkpoint_world(db, world, changed_sessions=changed)
                if not done.done():
                    done.set_result(None)

    async def close(self) -> None:
        """Finish queued work and close the connection."""
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._db is not None:
            await self._db.close()
            self._db = None
