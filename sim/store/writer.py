"""The single SQLite writer of a running world.

One task owns the world file's connection (aiosqlite, WAL); nothing else writes while a simulation
runs. Adoption events are queued by the simulation and committed in batches; checkpoints bring the
metadata, the session arrays and the message and session tables up to date in one transaction.

Crash safety (see ``sim.store.check``): the file always holds its last checkpoint. Event and exposure rows of
later ticks, left by a run that ended without a checkpoint, are discarded when the next writer starts.
A batch of rows that cannot be written (a full disk) is kept and retried before the next checkpoint, so
a checkpoint never commits a tick whose events are missing; a checkpoint that fails raises
:class:`CheckpointError` (one sentence: why, and the tick the file still holds).

Backpressure: the queue is bounded. When more than ``max_queue_rows`` rows wait, :meth:`WorldWriter.wait_for_room`
(awaited by the simulation after every tick) holds the loop until the writer has brought the queue down
to half that, so a run that adopts faster than the disk can write slows down instead of growing its
memory; ``backpressure`` says while it holds, and ``backpressure_waits``/``backpressure_seconds`` add up
how often and how long. Queued rows are coalesced: every batch is one transaction with one
``executemany`` per table (per recommender for exposures), whatever number of sessions and ticks it spans.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import aiosqlite
import numpy as np

from sim.core import worldkey
from sim.core import worldlock as lock
from sim.core.faults import kill_point
from sim.errors import ResourceError
from sim.store.check import discard_after_checkpoint
from sim.store.worldfile import checkpoint_image, checkpoint_world, ensure_schema

#: What a failed write raises: SQLite's errors (clear or encrypted worlds) and the disk's.
_FAILS: tuple[type[Exception], ...] = (*worldkey.Error, OSError)


class NotDurableError(ResourceError):
    """A change was made in memory, but the row that records it could not be committed to the world file
    (a full disk): it is lost if the process ends before a checkpoint succeeds."""


class CheckpointError(ResourceError):
    """A checkpoint could not be written (a full disk, a file size limit, an I/O error); the world file
    keeps its previous checkpoint. The simulation in memory is unchanged and may checkpoint again."""


def _why(exc: BaseException, path: str) -> str:
    """Why a write failed, in a few words."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or primary == 13 or "disk is full" in text:
        return "the disk is full"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "the file size limit (ulimit -f) was reached"
    if primary == 10 or isinstance(exc, OSError):
        try:
            import resource  # noqa: PLC0415 - POSIX only

            limited = resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY
        except (ImportError, OSError, ValueError):  # pragma: no cover - not on POSIX
            limited = False
        if limited:  # SQLite reports a write refused for the file size limit (EFBIG) as an I/O error
            return "the file size limit (ulimit -f) was reached"
        try:
            if shutil.disk_usage(os.path.dirname(os.path.abspath(path)) or ".").free < 16 * 2**20:
                return "the disk is full"
        except OSError:
            pass
        return f"of a disk I/O error ({text})"
    return f"of an error ({type(exc).__name__}: {text})"


def checkpoint_error(exc: BaseException, path: str, tick: int) -> CheckpointError:
    """The one-sentence error for a checkpoint of ``path`` that failed with ``exc``; the file holds ``tick``."""
    why = _why(exc, path)
    fix = "free some disk space (or raise the limit)" if "disk" in why or "limit" in why else "check the disk"
    return CheckpointError(
        f"the world file {path!r} could not be checkpointed because {why}: it keeps its last "
        f"checkpoint (tick {tick}); {fix} and save again"
    )


_ROWS = ("events", "exposures")
#: Queue items written together in one batch (a checkpoint or a call is written on its own).
_BATCHED = (*_ROWS, "log")
#: Default bound of the write queue, in rows (an event row is 48 bytes in memory while it waits).
MAX_QUEUE_ROWS = 500_000


def _audit_rows(log: list) -> list[tuple[float, str, str]]:
    """The ``audit`` rows of queued log entries (``ts, action, details``)."""
    now = time.time()
    return [(now, it[2], json.dumps(it[3], default=str)) for it in log]


def _tuples(rows: np.ndarray, extra: tuple = (), chunk: int = 8192) -> Iterator[tuple]:
    """The rows of a structured array as tuples of Python ints (plus ``extra`` at the end), converted a
    chunk at a time as SQLite asks for them: the conversion runs on the writer's connection thread,
    not on the event loop (where 300,000 rows at once kept the UI from answering keys)."""
    for at in range(0, len(rows), chunk):
        part = rows[at : at + chunk].tolist()
        if extra:
            yield from (r + extra for r in part)
        else:
            yield from part


class WorldWriter:
    """Batches writes to one world file from a background task."""

    def __init__(self, path: str, *, batch_rows: int = 200_000, max_queue_rows: int = MAX_QUEUE_ROWS) -> None:
        self.path = path
        self.batch_rows = batch_rows
        self.queue_rows = 0  # adoption rows waiting to be written (the "database write queue")
        #: The queue's bound: above it, :meth:`wait_for_room` holds the simulation until half of it is left.
        self.max_queue_rows = max_queue_rows
        #: Whether :meth:`wait_for_room` is holding the simulation now, how many times it has, for how long.
        self.backpressure = False
        self.backpressure_waits = 0
        self.backpressure_seconds = 0.0
        #: The most rows that have waited at once.
        self.peak_queue_rows = 0
        self._room = asyncio.Event()  # set whenever rows were written (or could not be): waiters look again
        self._rows_failing = False  # the last attempt to write rows failed (a full disk): nothing to wait for
        self.rows_written = 0
        self.error: BaseException | None = None
        #: Tick of the file's last committed checkpoint (what it holds after a crash).
        self.checkpoint_tick = 0
        #: What starting found and repaired (``sim.store.check.discard_after_checkpoint``): the checkpoint's
        #: ``tick``, the ``events`` and ``exposures`` rows of later ticks removed, the ``sessions`` and
        #: ``messages`` rows without metadata removed, the ``journal`` of acknowledged changes to make again
        #: and the highest message and session ids ever used (``max_message``, ``max_session``).
        self.recovered: dict[str, Any] = {}
        #: Changes acknowledged after the file's last checkpoint (journal rows: ``seq, tick, kind, body``),
        #: to be made again by the simulation that starts on the file (see :meth:`replayed`).
        self.leftover: list[dict[str, Any]] = []
        self._leftover_max = 0  # the highest journal seq found on start (rows of earlier processes)
        self._leftover_done = False  # the leftover rows were made again: the next checkpoint holds them
        self._unwritten: list = []  # row batches not committed yet (kept when a write fails, retried first)
        self._log: list = []  # audit and journal rows not committed yet (kept when a write fails)
        #: Journal rows submitted (:meth:`submit_change`) and committed (or held by a committed checkpoint).
        self.journal_submitted = 0
        self.journal_durable = 0
        self._log_error: BaseException | None = None  # why the last audit/journal write failed (None: it did not)
        self._durable = asyncio.Event()  # set whenever journal rows were committed or could not be
        self._queue: asyncio.Queue = asyncio.Queue()
        self._db: aiosqlite.Connection | None = None
        self._task: asyncio.Task | None = None
        self._locked = False

    async def start(self) -> WorldWriter:
        """Take the world's lock (one writer per world), open the file, bring its schema up to date and
        recover it after a crash (see :attr:`recovered`).

        Raises:
            WorldBusyError: another process writes the world. BadFileError: not a world file Agora opens.
        """
        lock.acquire(self.path)
        self._locked = True
        try:
            self._db = await worldkey.connect_async(self.path)
            if worldkey.is_encrypted(self.path):
                await self._db.execute(f"PRAGMA cache_size = -{worldkey.WRITER_CACHE_KIB}")
            await self._db.execute("PRAGMA journal_mode = WAL")
            await self._db.execute("PRAGMA synchronous = NORMAL")
            await self._db.execute("PRAGMA busy_timeout = 5000")
            await ensure_schema(self._db)
            # The file holds its last checkpoint; rows of later ticks (a crash, a kill, a quit without saving)
            # would contradict it: they go before anything new is written.
            self.recovered = await discard_after_checkpoint(self._db)
        except BaseException:
            if self._db is not None:
                with contextlib.suppress(Exception):
                    await self._db.close()
                self._db = None
            lock.release(self.path)
            self._locked = False
            raise
        self.checkpoint_tick = self.recovered["tick"]
        self.leftover = list(self.recovered.get("journal") or [])
        self._leftover_max = max((r["seq"] for r in self.leftover), default=0)  # an INTEGER PRIMARY KEY
        self._task = asyncio.create_task(self._run(), name="agora-world-writer")
        return self

    def replayed(self) -> None:
        """Say that the simulation made the :attr:`leftover` changes again: the next checkpoint holds them,
        so it removes their journal rows (until then they stay, and a crash finds them again)."""
        self._leftover_done = True
        self.leftover = []

    def submit_events(self, session_id: int, records: np.ndarray) -> None:
        """Queue adoption records (``tick, agent, source, kind``) of one session."""
        self.queue_rows += len(records)
        self.peak_queue_rows = max(self.peak_queue_rows, self.queue_rows)
        self._queue.put_nowait(("events", session_id, records))

    def submit_exposures(self, session_id: int, records: np.ndarray, recommender: str) -> None:
        """Queue first feed exposures (``tick, agent, source``) of one session, from ``recommender``."""
        self.queue_rows += len(records)
        self.peak_queue_rows = max(self.peak_queue_rows, self.queue_rows)
        self._queue.put_nowait(("exposures", session_id, records, recommender))

    @property
    def room_left(self) -> bool:
        """Whether the queue is within its bound."""
        return self.queue_rows <= self.max_queue_rows

    async def wait_for_room(self) -> float:
        """Backpressure: when more than ``max_queue_rows`` rows wait, wait until the writer has brought
        them down to half of it; the seconds waited (0.0 without waiting).

        Returns at once while rows cannot be written (a full disk: the checkpoint reports it) or once the
        writer is closed, so a simulation is never held for ever."""
        if self.room_left or self._task is None:
            return 0.0
        low = self.max_queue_rows // 2
        t0 = time.perf_counter()
        self.backpressure = True
        self.backpressure_waits += 1
        try:
            while self.queue_rows > low and not self._rows_failing and self._task is not None and not self._task.done():
                self._room.clear()
                await self._room.wait()
        finally:
            waited = time.perf_counter() - t0
            self.backpressure_seconds += waited
            self.backpressure = False
        return waited

    def submit_audit(self, action: str, details: dict[str, Any]) -> None:
        """Append a user action to the world's audit log (after everything queued before it).

        ``details`` is copied now, as JSON (values JSON cannot hold become their ``str``), so what is
        recorded is the action as it was asked, whatever happens to the objects later."""
        snapshot = json.loads(json.dumps(details, default=str))
        self._queue.put_nowait(("log", 0, str(action), snapshot, None))

    def submit_change(self, action: str, details: dict[str, Any], kind: str, tick: int, body: dict[str, Any]) -> int:
        """Record a change made in memory: its audit row and a journal row (``kind``, ``tick``, ``body``: what
        is needed to make the change again after a crash), committed together in one transaction, grouped
        with whatever else waits. Returns the change's number for :meth:`wait_durable`."""
        snapshot = json.loads(json.dumps(details, default=str))
        self.journal_submitted += 1
        entry = (int(tick), str(kind), json.dumps(body, default=str))
        self._queue.put_nowait(("log", self.journal_submitted, str(action), snapshot, entry))
        return self.journal_submitted

    async def wait_durable(self, seq: int) -> None:
        """Wait until change ``seq`` (:meth:`submit_change`) is committed to the file: its journal row, or a
        checkpoint that holds it.

        Raises:
            NotDurableError: it could not be written (a full disk): the change is in memory only.
        """
        while self.journal_durable < seq:
            if self._log_error is not None or self._task is None or self._task.done():
                why = _why(self._log_error, self.path) if self._log_error is not None else "the writer is closed"
                raise NotDurableError(
                    f"the change was made, but it could not be written to the world file {self.path!r} because "
                    f"{why}: it is lost if the process stops before a checkpoint succeeds"
                )
            self._durable.clear()
            await self._durable.wait()

    async def call(self, fn: Any) -> Any:
        """Run ``await fn(connection)`` on the writer's connection, in order with everything queued."""
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(("call", fn, done))
        return await done

    async def checkpoint(self, world: Any, changed_sessions: list | None = None) -> None:
        """Write the world's state (after every queued event) and wait until it is committed.

        The state is taken now (:func:`~sim.store.worldfile.checkpoint_image`): what changes while the
        checkpoint waits for the disk (an injection answered meanwhile) goes to the next one, and its
        journal row stays until then. The caller keeps the world's arrays still until this returns (the
        simulation holds its lock).

        Raises:
            CheckpointError: it could not be written; the file keeps its previous checkpoint.
        """
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        image = checkpoint_image(world, changed_sessions)
        kill_point("checkpoint-taken")
        self._queue.put_nowait(("checkpoint", image, self.journal_submitted, done))
        try:
            await done
        except _FAILS as exc:
            raise checkpoint_error(exc, self.path, self.checkpoint_tick) from exc

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self._queue.join()

    async def _run(self) -> None:
        assert self._db is not None
        while True:
            item = await self._queue.get()
            items = [item]
            rows = len(item[2]) if item[0] in _ROWS else 0
            # Rows and log entries waiting are written together (group commit); a checkpoint or a call ends
            # the batch, so everything queued before it is committed first.
            while rows < self.batch_rows and not self._queue.empty() and items[-1][0] in _BATCHED:
                nxt = self._queue.get_nowait()
                items.append(nxt)
                if nxt[0] in _ROWS:
                    rows += len(nxt[2])
            try:
                await self._write(items)
            except BaseException as exc:  # keep the task alive; report through .error
                self._room.set()
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
        self._unwritten += [it for it in items if it[0] in _ROWS]
        self._log += [it for it in items if it[0] == "log"]
        row_error = None
        if self._unwritten:
            try:
                await self._write_unwritten(db)
            except _FAILS as exc:
                row_error = exc  # the rows are kept; checkpoints fail until they are written
        if self._log:
            try:
                await self._write_log(db)
            except _FAILS as exc:
                row_error = row_error or exc  # kept too: written with the next batch or checkpoint
        for it in items:
            if it[0] == "call":
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
                _, image, upto, done = it
                if self._unwritten:  # never a checkpoint without the events of its ticks: try them again first
                    try:
                        await self._write_unwritten(db)
                    except BaseException:
                        image.put_back()  # its LLM, post and memory rows go to the next checkpoint
                        raise
                await self._checkpoint(db, image, upto)
                if not done.done():
                    done.set_result(None)
        if row_error is not None:
            raise row_error

    async def _checkpoint(self, db: aiosqlite.Connection, image: Any, upto: int) -> None:
        """One checkpoint's transaction: the image, the audit rows still waiting, and the journal rows it holds
        removed (this process's up to change ``upto``; earlier processes' once they were made again)."""
        log, self._log = self._log, []
        leftover = self._leftover_max if self._leftover_done else 0
        mine = self._leftover_max

        async def journal() -> None:
            # The journal rows of earlier processes (seq <= mine) stay until this process made them again.
            await db.execute("DELETE FROM journal WHERE seq > ? OR seq <= ?", (mine, leftover))

        try:
            await checkpoint_world(db, image.world, image=image, audit_rows=_audit_rows(log), journal=journal)
        except BaseException:
            self._log = log + self._log
            raise
        kill_point("checkpointed")
        self.checkpoint_tick = image.tick
        if self._leftover_done:
            self._leftover_max = 0  # gone from the file: this process's rows are all that is left
        self._log_error = None
        self.journal_durable = max(self.journal_durable, upto, max((it[1] for it in log), default=0))
        self._durable.set()

    async def _write_log(self, db: aiosqlite.Connection) -> None:
        """The waiting audit rows and journal rows in one transaction (kept, and the error raised, on failure)."""
        log = self._log
        try:
            await db.execute("BEGIN")
            await db.executemany("INSERT INTO audit (ts, action, details) VALUES (?, ?, ?)", _audit_rows(log))
            entries = [it[4] for it in log if it[4] is not None]
            if entries:
                await db.executemany("INSERT INTO journal (tick, kind, body) VALUES (?, ?, ?)", entries)
            kill_point("journal")
            await db.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await db.rollback()
            self._log_error = exc
            self._durable.set()
            raise
        self._log = self._log[len(log) :]
        self._log_error = None
        self.journal_durable = max(self.journal_durable, max((it[1] for it in log), default=0))
        self._durable.set()

    async def _write_unwritten(self, db: aiosqlite.Connection) -> None:
        """Write the queued rows in one transaction; on failure they stay queued (and the error is raised)."""
        events = self._unwritten
        try:
            await self._write_rows(db, events)
        except BaseException:
            self._rows_failing = True
            self._room.set()
            with contextlib.suppress(Exception):
                await db.rollback()
            raise
        self._unwritten = []
        n = sum(len(it[2]) for it in events)
        self.queue_rows -= n
        self.rows_written += n
        self._rows_failing = False
        self._room.set()

    @staticmethod
    async def _write_rows(db: aiosqlite.Connection, events: list) -> None:
        """One transaction of queued event and exposure rows, coalesced: one ``executemany`` for all the
        event rows and one per recommender for the exposure rows, whatever sessions and ticks they span."""
        ev = [it for it in events if it[0] == "events"]
        ex = [it for it in events if it[0] == "exposures"]
        await db.execute("BEGIN")
        if ev:
            total = sum(len(it[2]) for it in ev)
            rows = np.empty(
                total, dtype=[("s", "<i8"), ("t", "<i8"), ("a", "<i8"), ("src", "<i8"), ("k", "<i8"), ("v", "<i8")]
            )
            at = 0
            for it in ev:  # one slice per queued batch (a session's tick), not per row
                sid, rec = it[1], it[2]
                part = rows[at : at + len(rec)]
                part["s"] = sid
                part["t"], part["a"], part["src"], part["k"] = rec["tick"], rec["agent"], rec["source"], rec["kind"]
                part["v"] = rec["via"] if "via" in (rec.dtype.names or ()) else 0
                at += len(rec)
            await db.executemany(
                "INSERT INTO events (session_id, tick, agent, source, kind, via) VALUES (?, ?, ?, ?, ?, ?)",
                _tuples(rows),
            )
        for name in dict.fromkeys(it[3] for it in ex):
            mine = [it for it in ex if it[3] == name]
            total = sum(len(it[2]) for it in mine)
            rows = np.empty(total, dtype=[("s", "<i8"), ("t", "<i8"), ("a", "<i8"), ("src", "<i8")])
            at = 0
            for it in mine:
                sid, rec = it[1], it[2]
                part = rows[at : at + len(rec)]
                part["s"] = sid
                part["t"], part["a"], part["src"] = rec["tick"], rec["agent"], rec["source"]
                at += len(rec)
            await db.executemany(
                "INSERT INTO exposures (session_id, tick, agent, source, recommender) VALUES (?, ?, ?, ?, ?)",
                _tuples(rows, (name,)),
            )
        kill_point("events")
        await db.commit()

    async def close(self) -> None:
        """Finish queued work, close the connection and release the world's lock."""
        try:
            if self._task is not None:
                await self.flush()
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._task = None
                self._room.set()  # nothing will write any more: a waiter returns
                self._durable.set()
            if self._db is not None:
                await self._db.close()
                self._db = None
        finally:
            if self._locked:
                self._locked = False
                lock.release(self.path)
